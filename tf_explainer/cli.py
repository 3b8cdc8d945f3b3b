"""What every command-line script shares: one line per expected error, no half-made folder.

    if __name__ == "__main__":
      cli.run(main, output_flags=("model_dir",))

An expected error (a bad flag, file, key or dataset: `ValueError` and its
subclasses such as `DatasetError`, a missing file, a `FloatingPointError`
from training) prints one line, `<script>: error: <message>`, on stderr and
exits with status 1. Set `TF_EXPLAINER_TRACEBACK=1` to see the traceback
instead. Any other exception is a bug and keeps its traceback.

An output folder named by `output_flags` that the failed run created itself,
and in which no training checkpoint or model was written yet, is removed: a
mistake leaves nothing behind. A folder that existed before is never touched.
"""

import os
import sys

from absl import app, flags

from tf_explainer import io_utils

EXPECTED_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, FileExistsError,
                   FloatingPointError)
# Files and folders whose presence means a run got far enough to keep its folder.
_PROGRESS = ("backup", "performer.keras", "explainer.keras", "saved_model.pb", "metrics.json")


def _made_progress(folder):
  return any(io_utils.exists(os.path.join(folder, name)) for name in _PROGRESS)


def run(main, output_flags=()):
  """`absl.app.run(main)` with one-line errors and cleanup of half-made output folders."""

  def wrapped(argv):
    created = []
    for name in output_flags:
      path = flags.FLAGS[name].value
      if path and not io_utils.exists(path):
        created.append(path)
    try:
      return main(argv)
    except EXPECTED_ERRORS as e:
      if os.environ.get("TF_EXPLAINER_TRACEBACK"):
        raise
      for path in created:
        if io_utils.exists(path) and not _made_progress(path):
          io_utils.rmtree(path)
      message = " ".join(str(e).split()) or type(e).__name__
      print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr, flush=True)
      sys.exit(1)

  app.run(wrapped)
