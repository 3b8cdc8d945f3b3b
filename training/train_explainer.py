"""Distils an explainer from a trained performer, without any annotation.

    python training/train_explainer.py --performer_dir=/tmp/performer \
        --dataset_dir=/tmp/parts --model_dir=/tmp/explainer --epochs=20
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from tf_explainer import cli, io_utils  # noqa: E402
from tf_explainer.train import config as config_lib  # noqa: E402
from tf_explainer.train import distribute, explainer_lib  # noqa: E402

_PERFORMER_DIR = flags.DEFINE_string("performer_dir", None, "Folder of the trained performer.")
_DATASET_DIR = flags.DEFINE_string("dataset_dir", None, "CUB-layout dataset root.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Output folder of the explainer.")
_UNLABELED_DIR = flags.DEFINE_string("unlabeled_dir", None, "Optional second CUB-layout root "
                                     "whose images (all splits, labels unused) are added to "
                                     "the distillation set.")
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Training epochs.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Global batch size.", lower_bound=2)
_STRATEGY = flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES, "tf.distribute "
                              "strategy.")
_MIXED_PRECISION = flags.DEFINE_enum("mixed_precision", "float32", distribute.PRECISIONS,
                                     "Keras dtype policy; losses stay float32.")
_CACHE = flags.DEFINE_boolean("cache", True, "Cache the performer's features on disk.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-4, "Adam learning rate.", lower_bound=0)
_GATE_LEARNING_RATE = flags.DEFINE_float("gate_learning_rate", 1e-2, "Adam learning rate of the "
                                         "gate's w_p (0: use --learning_rate).", lower_bound=0)
_GRADIENT = flags.DEFINE_enum("gradient", "approx", ["approx", "exact", "icnn"],
                              "Filter-loss gradient: the paper's approximation, the formula's "
                              "exact gradient, or the reference implementation's (with its mask).")
_ICNN_CENTRE = flags.DEFINE_enum("icnn_centre", None, ["mass", "argmax"], "--gradient=icnn: each "
                                 "map's centre (default mass, the reference's).")
_INTERP_INIT = flags.DEFINE_enum("interp_init", None, ["random", "identity"], "How the second "
                                  "interpretable conv layer starts: random (the paper; the "
                                  "default) or the identity (see BENCHMARKS.md).")
_INTERP_LAYERS = flags.DEFINE_integer("interp_layers", None, "Interpretable conv layers (2, the "
                                     "paper's, by default).", lower_bound=1)
_ICNN_BETA = flags.DEFINE_enum("icnn_beta", None, ["adaptive", "fixed"], "--gradient=icnn: "
                               "mask sharpness per filter, adapted to its spread or fixed at 2 "
                               "(default adaptive).")
_ETA = flags.DEFINE_float("eta", None, "Weight of -log p per image; default the paper's value "
                          "for the architecture.", lower_bound=0)
_LAMBDA_L_SCALE = flags.DEFINE_float("lambda_l_scale", None, "Numerator of lambda_l (5e4).",
                                     lower_bound=0)
_LAMBDA_F_DIVISOR = flags.DEFINE_float("lambda_f_divisor", None, "The 300 of lambda_f's rule.",
                                       lower_bound=0)
_INITIAL_P = flags.DEFINE_float("initial_p", None, "p before training (0.5).")
_MONITOR_EVERY = flags.DEFINE_integer("monitor_every", 5, "Epochs between location-instability "
                                      "measurements on test images for TensorBoard (0: off).",
                                      lower_bound=0)
_OBJECTIVE = flags.DEFINE_enum("objective", "reconstruction", ["reconstruction", "classification"],
                               "reconstruction: the explainer; classification: the paper's "
                               "Explainer+cls baseline (uses the true labels).")
_JIT_COMPILE = flags.DEFINE_boolean("jit_compile", True, "Compile the training step with XLA "
                                    "(faster on CPU in BENCHMARKS.md).")
_TRAIN_SPLIT = flags.DEFINE_enum("train_split", "train", ["train", "train_without_validation"],
                                 "Images to distil on: the training split, or the training "
                                 "split less the validation split, while settings are chosen.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_DETERMINISTIC = flags.DEFINE_boolean("deterministic", False, "TensorFlow's deterministic kernels: two runs with one --seed give identical results (see BENCHMARKS.md for the cost).")
_CONFIG = config_lib.define_run_flags("explainer")

FLAG_NAMES = ("performer_dir", "dataset_dir", "unlabeled_dir", "model_dir", "epochs", "batch_size",
              "strategy", "mixed_precision", "cache", "learning_rate", "gate_learning_rate",
              "gradient", "icnn_centre", "icnn_beta", "interp_init", "interp_layers", "eta", "lambda_l_scale", "lambda_f_divisor",
              "initial_p", "monitor_every", "objective", "jit_compile", "train_split", "seed",
              "deterministic") + config_lib.RUN_FLAG_NAMES


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  params = config_lib.resolve(flags.FLAGS, _CONFIG.value, FLAG_NAMES)
  for name in ("performer_dir", "dataset_dir", "model_dir"):
    if not params[name]:
      raise app.UsageError(f"--{name} is required.")
  io_utils.claim_dir(params["model_dir"], "explainer", "model_dir", params["overwrite"])
  config_lib.save(params, params["model_dir"])
  explainer_lib.run(**params)


if __name__ == "__main__":
  cli.run(main, output_flags=('model_dir',))
