"""Trains a performer (AlexNet, VGG-M, VGG-S, VGG-16) on a CUB-layout dataset.

    python training/train_performer.py --dataset_dir=/tmp/parts --model_dir=/tmp/performer \
        --arch=alexnet --image_size=131 --width=0.25 --fc_units=256 --epochs=10
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from tf_explainer import cli, io_utils  # noqa: E402
from tf_explainer import performers  # noqa: E402
from tf_explainer.train import config as config_lib  # noqa: E402
from tf_explainer.train import distribute, performer_lib  # noqa: E402

_DATASET_DIR = flags.DEFINE_string("dataset_dir", None, "CUB-layout dataset root.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Output folder of the performer.")
_ARCH = flags.DEFINE_enum("arch", "alexnet", performers.ARCHITECTURES, "Architecture.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Input side; default 227 (AlexNet) "
                                   "or 224, or the shipped network's with --weights=synthetic.",
                                   lower_bound=32)
_TASK = flags.DEFINE_enum("task", "multi", ["single", "multi"], "Single- or multi-category.")
_TARGET_CLASS = flags.DEFINE_string("target_class", None, "Positive class for --task=single: "
                                    "its id in classes.txt (1-based) or its name.")
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Training epochs.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Global batch size.", lower_bound=1)
_STRATEGY = flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES, "tf.distribute "
                              "strategy.")
_WIDTH = flags.DEFINE_float("width", None, "Filter multiplier; default 1.0 (the paper's "
                            "network), or the shipped network's with --weights=synthetic.",
                            lower_bound=0.01)
_FC_UNITS = flags.DEFINE_integer("fc_units", None, "Width of fc6 and fc7; default 4096, or the "
                                 "shipped network's with --weights=synthetic.", lower_bound=1)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.", lower_bound=0)
_MIXED_PRECISION = flags.DEFINE_enum("mixed_precision", "float32", distribute.PRECISIONS,
                                     "Keras dtype policy.")
_WEIGHTS = flags.DEFINE_string("weights", None, "Start from: 'synthetic' (the weights shipped "
                               "with the package, pretrained on the synthetic corpus; alexnet, "
                               "vgg16); vgg16: 'imagenet' or a weights file; alexnet: a "
                               "bvlc_alexnet.npy file. Default: from scratch.")
_TRAIN_SPLIT = flags.DEFINE_enum("train_split", "train", ["train", "train_without_validation"],
                                 "Images to train on: the training split, or the training split "
                                 "less the validation split, while settings are chosen.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_DETERMINISTIC = flags.DEFINE_boolean("deterministic", False, "TensorFlow's deterministic kernels: two runs with one --seed give identical results (see BENCHMARKS.md for the cost).")
_CONFIG = config_lib.define_run_flags("performer")

FLAG_NAMES = ("dataset_dir", "model_dir", "arch", "image_size", "task", "target_class", "epochs",
              "batch_size", "strategy", "width", "fc_units", "learning_rate", "mixed_precision",
              "weights", "train_split", "seed", "deterministic") + config_lib.RUN_FLAG_NAMES


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  params = config_lib.resolve(flags.FLAGS, _CONFIG.value, FLAG_NAMES)
  for name in ("dataset_dir", "model_dir"):
    if not params[name]:
      raise app.UsageError(f"--{name} is required.")
  io_utils.claim_dir(params["model_dir"], "performer", "model_dir", params["overwrite"])
  config_lib.save(params, params["model_dir"])
  _, spec, metrics = performer_lib.run(**params)
  print(f"Performer {spec.arch} saved in {params['model_dir']}: "
        f"val_accuracy = {metrics.get('val_accuracy', float('nan')):.3f}")


if __name__ == "__main__":
  cli.run(main, output_flags=('model_dir',))
