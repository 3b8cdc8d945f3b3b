"""The command-line programs, and what they share: one-line errors, no half-made folders.

Each program is a module here (`train_performer`, `train_explainer`,
`evaluate`, `export`, `demo`, `pretrain_performer`) whose `main` is a console
entry point of the package (`tf-explainer-train-explainer`, ...; see
setup.py); `training/*.py` and `export/*.py` call the same `main`. A program
is its settings dataclass (`tf_explainer.settings`) and its library `run`,
joined by `program`:

    main = cli.program(explainer_lib.ExplainerSettings, explainer_lib.run,
                       output_flag="model_dir", kind="explainer")

An expected error (a bad flag, file, key or dataset: `ValueError` and its
subclasses such as `DatasetError`, a missing file, a `FloatingPointError`
from training) prints one line, `<script>: error: <message>`, on stderr and
exits with status 1. The library names its parameters (`batch_size=64`,
`` `learning_rate` ``); where a parameter is one of the script's flags, the
line names the flag instead (`--batch_size=64`, `--learning_rate`). Set
`TF_EXPLAINER_TRACEBACK=1` to see the traceback instead. Any other
exception is a bug and keeps its traceback.

An output folder named by `output_flags` that the failed run created itself,
and in which no training checkpoint or model was written yet, is removed: a
mistake leaves nothing behind. A folder that existed before is never touched.
"""

import os
import re
import sys


def _verbosity_asked():
  """Whether the command line asks for absl's or TensorFlow's own log lines."""
  return any(a.startswith(("--verbosity", "-v")) for a in sys.argv[1:])


def _quiet_tensorflow():
  """Imports TensorFlow with its C++ start-up logs silenced, unless asked for.

  TensorFlow prints 8-12 lines (oneDNN, CUDA stubs, CPU features, a cuInit
  error on machines without a GPU) before a program's first line of its own.
  `TF_CPP_MIN_LOG_LEVEL=3` silences what it logs once loaded; the lines printed
  while its libraries load ignore it, so stderr goes to /dev/null for the import
  alone. `--verbosity` (or `-v`) on the command line, or `TF_CPP_MIN_LOG_LEVEL` set
  by the user, keeps every line.
  """
  if _verbosity_asked() or "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
    return
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
  sys.stderr.flush()
  saved = os.dup(2)
  try:
    with open(os.devnull, "w") as devnull:
      os.dup2(devnull.fileno(), 2)
      import tensorflow  # noqa: F401
  finally:
    os.dup2(saved, 2)
    os.close(saved)


from absl import app, flags  # noqa: E402

from tf_explainer import settings as settings_lib  # noqa: E402

EXPECTED_ERRORS = (
  ValueError,
  FileNotFoundError,
  NotADirectoryError,
  FileExistsError,
  FloatingPointError,
)
# Files and folders whose presence means a run got far enough to keep its folder.
_PROGRESS = ("backup", "performer.keras", "explainer.keras", "saved_model.pb", "metrics.json")


def _made_progress(folder):
  from tf_explainer import io_utils

  return any(io_utils.exists(os.path.join(folder, name)) for name in _PROGRESS)


def as_flags(message, flag_names):
  """A library message with each parameter that is a flag written as the flag."""

  def flag(match):
    name = match.group("name")
    return f"--{name}" if name in flag_names else match.group(0)

  message = re.sub(r"(?<![\w`'-])(?P<name>[a-z][a-z0-9_]*)(?==)", flag, message)
  return re.sub(r"`(?P<name>[a-z][a-z0-9_]*)`", flag, message)


def filesystem_problem(error):
  """One line for a write the filesystem refused (read-only, permission, full disk), else None."""
  import errno

  import tensorflow as tf

  from tf_explainer import io_utils

  text = io_utils.without_tf_wrapping(" ".join(str(error).split()) or type(error).__name__)
  code = getattr(error, "errno", None)
  if code in (errno.ENOSPC, errno.EDQUOT) or "no space left" in text.lower():
    return f"the disk is full ({text}); free some space or choose a folder on another disk."
  if (
    isinstance(error, (PermissionError, tf.errors.PermissionDeniedError))
    or code == errno.EROFS
    or "read-only file system" in text.lower()
  ):
    return f"cannot write ({text}); choose a folder you can write to."
  return None


def program_name():
  """The name a user typed: the script, or for `python -m pkg` the package (`synthetic.py`)."""
  path = sys.argv[0] if sys.argv and sys.argv[0] else "tf_explainer"
  name = os.path.basename(path)
  if name == "__main__.py":
    name = os.path.basename(os.path.dirname(path)) + ".py"
  return name


def run(main, output_flags=()):
  """`absl.app.run(main)` with one-line errors and cleanup of half-made output folders."""

  def wrapped(argv):
    # Flags are parsed (and `--help` answered) before TensorFlow is imported.
    _quiet_tensorflow()
    from tf_explainer import io_utils

    if not _verbosity_asked():
      # TensorFlow's Python INFO lines (SavedModel writing, ...) are not the program's output.
      from absl import logging

      logging.set_verbosity(logging.WARNING)
    created = []
    for name in output_flags:
      path = flags.FLAGS[name].value
      if path and not io_utils.exists(path):
        created.append(path)
    try:
      return main(argv)
    except Exception as e:  # expected errors and refused writes: one line; the rest: bugs
      message = None
      if isinstance(e, EXPECTED_ERRORS) and not isinstance(e, PermissionError):
        message = as_flags(" ".join(str(e).split()) or type(e).__name__, set(flags.FLAGS))
      message = message or filesystem_problem(e)
      if message is None or os.environ.get("TF_EXPLAINER_TRACEBACK"):
        raise
      for path in created:
        try:
          if io_utils.exists(path) and not _made_progress(path):
            io_utils.rmtree(path)
        except Exception:  # noqa: BLE001 - cleaning up must not hide the error itself
          pass
      print(f"{program_name()}: error: {message}", file=sys.stderr, flush=True)
      sys.exit(1)

  app.run(wrapped)


def _resolve(run_fn):
  """`run_fn`, or the function a `"module:function"` string names, imported now."""
  if not isinstance(run_fn, str):
    return run_fn
  import importlib

  module, name = run_fn.split(":")
  return getattr(importlib.import_module(module), name)


def program(settings_cls, run_fn, output_flag=None, kind=None):
  """A console entry point: flags from `settings_cls`, then `run_fn(**settings)`.

  `run_fn` may be a `"module:function"` string, imported once the flags are
  parsed: with the settings from `tf_explainer.configs`, `--help` then answers
  without importing TensorFlow.

  Defines the flags (and `--config`) when called, at import of the program's
  module. With `kind`, the output folder named by `output_flag` is claimed
  (`io_utils.claim_dir`) and the resolved flags are saved there as
  `config.json` before `run_fn` starts; a later `--config` of that file
  repeats the run.

  Returns:
    `main()`, which parses the command line and runs.
  """
  settings_lib.define_flags(settings_cls)

  def _main(argv):
    if len(argv) > 1:
      raise ValueError(f"unexpected argument {argv[1]!r}; flags start with --")
    settings, params = settings_lib.from_flags(settings_cls)
    if kind:
      from tf_explainer import io_utils

      values = settings_lib.flat(settings)
      folder = values[output_flag]
      io_utils.claim_dir(folder, kind, output_flag, values.get("overwrite", False))
      settings_lib.save(settings_lib.nested(settings_cls, params), folder)
    _resolve(run_fn)(**params)

  def main():
    run(_main, output_flags=(output_flag,) if output_flag else ())

  return main
