"""Exports an explainer with its performer as one SavedModel for TF Serving.

    python export/export_savedmodel.py --explainer_dir=/tmp/explainer \
        --export_base=/tmp/serving/explainer --version=1
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from tf_explainer import cli  # noqa: E402
from tf_explainer import export_lib  # noqa: E402

_EXPLAINER_DIR = flags.DEFINE_string("explainer_dir", None, "Folder of the trained explainer.",
                                     required=True)
_EXPORT_BASE = flags.DEFINE_string("export_base", None, "Model base path watched by TF Serving.",
                                   required=True)
_VERSION = flags.DEFINE_integer("version", 1, "Version folder to write.", lower_bound=0)
_MODEL_NAME = flags.DEFINE_string("model_name", "explainer", "Model name in warmup requests.")
_OVERWRITE = flags.DEFINE_boolean("overwrite", False, "Replace an existing version.")
_PERFORMER_ONLY = flags.DEFINE_boolean("performer_only", False, "Export the performer alone "
                                       "(fc7 and class_scores), the serving baseline.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  export_lib.run(_EXPLAINER_DIR.value, _EXPORT_BASE.value, _VERSION.value, _MODEL_NAME.value,
                 _OVERWRITE.value, _PERFORMER_ONLY.value)


if __name__ == "__main__":
  cli.run(main)
