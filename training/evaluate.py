"""Evaluates an explainer as the paper does and writes metrics.json and a report.

    python training/evaluate.py --explainer_dir=/tmp/explainer --dataset_dir=/tmp/parts \
        --output_dir=/tmp/eval
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from tf_explainer import cli  # noqa: E402
from tf_explainer import evaluate_lib  # noqa: E402

_EXPLAINER_DIR = flags.DEFINE_string("explainer_dir", None, "Folder of the trained explainer.",
                                     required=True)
_DATASET_DIR = flags.DEFINE_string("dataset_dir", None, "CUB-layout dataset root.",
                                   required=True)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where metrics.json and the report go.",
                                  required=True)
_SPLIT = flags.DEFINE_enum("split", "test", ["train", "validation", "train_without_validation",
                                             "test", "all"],
                           "Images to evaluate on (validation: for choosing settings).")
_TOP_N = flags.DEFINE_integer("top_n", 100, "Images per filter and landmark.", lower_bound=2)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size.", lower_bound=1)
_EXPLAINER_CLS_DIR = flags.DEFINE_string("explainer_cls_dir", None, "Optional Explainer+cls "
                                         "baseline (train_explainer.py "
                                         "--objective=classification) to compare errors with.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed (recorded; evaluation draws nothing).")
_DETERMINISTIC = flags.DEFINE_boolean("deterministic", False, "TensorFlow's deterministic kernels: two runs with one --seed give identical results (see BENCHMARKS.md for the cost).")
_OVERWRITE = flags.DEFINE_boolean("overwrite", False, "Write into a non-empty --output_dir that "
                                  "is not an earlier evaluation folder (refused otherwise).")
_ON_ERROR = flags.DEFINE_enum("on_error", "fail", ["fail", "skip"], "An image that cannot be "
                               "decoded: fail with its name, or skip it (and say how many).")
_FIGURES = flags.DEFINE_boolean("figures", True, "Draw receptive-field, Grad-CAM and "
                                "part-contribution figures.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  evaluate_lib.run(_EXPLAINER_DIR.value, _DATASET_DIR.value, _OUTPUT_DIR.value, _SPLIT.value,
                   _TOP_N.value, _BATCH_SIZE.value, _FIGURES.value, _EXPLAINER_CLS_DIR.value,
                   seed=_SEED.value, deterministic=_DETERMINISTIC.value,
                   overwrite=_OVERWRITE.value, on_error=_ON_ERROR.value)


if __name__ == "__main__":
  cli.run(main, output_flags=('output_dir',))
