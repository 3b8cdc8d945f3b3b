"""The end-to-end demo on the embedded synthetic data.

Generates the data (a labelled set and a set of extra images the explainer
uses without labels), trains a performer, distils an explainer, evaluates it,
exports a SavedModel and writes the report:

    python -m tf_explainer.demo --work_dir=runs/demo

Defaults are sized for a 2-core CPU (about 14 minutes); every step shows a
progress bar and the last lines say where the report and the SavedModel are.
"""

import os
import time

from absl import app, flags

_WORK_DIR = flags.DEFINE_string("work_dir", "runs/demo", "Where everything is written.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 1200, "Synthetic images to generate.",
                                   lower_bound=12)
_ARCH = flags.DEFINE_enum("arch", "alexnet", ["alexnet", "vgg_m", "vgg_s", "vgg16"],
                          "Performer architecture.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 131, "Performer input side.", lower_bound=32)
_WIDTH = flags.DEFINE_float("width", 0.25, "Performer filter multiplier.", lower_bound=0.01)
_FC_UNITS = flags.DEFINE_integer("fc_units", 256, "Performer fc6/fc7 width.", lower_bound=1)
_PERFORMER_WEIGHTS = flags.DEFINE_enum(
    "performer_weights", "scratch", ["scratch", "synthetic"], "Where the performer starts: from "
    "scratch, or from the AlexNet shipped with the package (pretrained on 24 other synthetic "
    "species), fine-tuned on the demo's images.")
_PERFORMER_EPOCHS = flags.DEFINE_integer("performer_epochs", 35, "Performer epochs.",
                                         lower_bound=1)
_PERFORMER_LEARNING_RATE = flags.DEFINE_float("performer_learning_rate", 1e-3,
                                              "Performer Adam learning rate.", lower_bound=0)
_EXPLAINER_EPOCHS = flags.DEFINE_integer("explainer_epochs", 40, "Explainer epochs.",
                                         lower_bound=1)
_UNLABELED_IMAGES = flags.DEFINE_integer(
    "unlabeled_images", 2100, "Extra synthetic images (another seed) added, without labels, to "
    "the explainer's distillation set (0: the training split only).", lower_bound=0)
_TASK = flags.DEFINE_enum("task", "multi", ["single", "multi"], "Classification task.")
_TARGET_CLASS = flags.DEFINE_string("target_class", "bird", "Positive class for --task=single.")
_MIXED_PRECISION = flags.DEFINE_enum("mixed_precision", "float32",
                                     ["float32", "mixed_bfloat16", "mixed_float16"],
                                     "Keras dtype policy for both trainings.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_DETERMINISTIC = flags.DEFINE_boolean("deterministic", True, "TensorFlow's deterministic kernels: "
                                      "the same --seed gives the same numbers on this machine.")


def run(work_dir, num_images=1200, arch="alexnet", image_size=131, width=0.25, fc_units=256,
        performer_epochs=35, explainer_epochs=40, task="multi", target_class="bird",
        mixed_precision="float32", seed=0, verbose=1, unlabeled_images=2100,
        deterministic=True, performer_weights="scratch", performer_learning_rate=1e-3):
  """Runs the whole pipeline; returns the paths and the metrics."""
  from tf_explainer import evaluate_lib, export_lib
  from tf_explainer.data import synthetic
  from tf_explainer.train import explainer_lib, performer_lib

  paths = {name: os.path.join(work_dir, name)
           for name in ("data", "unlabeled", "performer", "explainer", "evaluation", "serving")}
  timings = {}

  def step(name):
    if verbose:
      print(f"\n== {name} ==", flush=True)
    timings[name] = time.time()

  def done(name):
    timings[name] = time.time() - timings[name]

  step("data")
  synthetic.generate(paths["data"], num_images, seed=seed, progress=verbose > 0)
  unlabeled_dir = None
  if unlabeled_images:
    # The explainer learns from the performer's outputs alone: images nobody
    # labelled (here: another seed of the generator) join its training set.
    unlabeled_dir = synthetic.generate(paths["unlabeled"], unlabeled_images, seed=seed + 1,
                                       train_fraction=1.0, progress=verbose > 0)
  done("data")
  step("performer")
  performer_lib.run(paths["data"], paths["performer"], arch=arch, image_size=image_size,
                    task=task, target_class=target_class if task == "single" else None,
                    epochs=performer_epochs, width=width, fc_units=fc_units,
                    learning_rate=performer_learning_rate,
                    weights=None if performer_weights == "scratch" else performer_weights,
                    mixed_precision=mixed_precision, seed=seed, deterministic=deterministic,
                    verbose=verbose)
  done("performer")
  step("explainer")
  explainer_lib.run(paths["performer"], paths["data"], paths["explainer"],
                    epochs=explainer_epochs, mixed_precision=mixed_precision, seed=seed,
                    deterministic=deterministic, unlabeled_dir=unlabeled_dir, verbose=verbose)
  done("explainer")
  step("evaluation")
  metrics = evaluate_lib.run(paths["explainer"], paths["data"], paths["evaluation"],
                             verbose=verbose, seed=seed, deterministic=deterministic)
  done("evaluation")
  step("export")
  saved_model = export_lib.run(paths["explainer"], os.path.join(paths["serving"], "explainer"),
                               version=1, overwrite=True)
  done("export")
  report = os.path.join(paths["evaluation"], "report.md")
  if verbose:
    print("\nStep times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    print(f"Report:     {os.path.abspath(report)}")
    print(f"SavedModel: {os.path.abspath(saved_model)}")
  return {"report": report, "saved_model": saved_model, "metrics": metrics, "timings": timings}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  run(_WORK_DIR.value, _NUM_IMAGES.value, _ARCH.value, _IMAGE_SIZE.value, _WIDTH.value,
      _FC_UNITS.value, _PERFORMER_EPOCHS.value, _EXPLAINER_EPOCHS.value, _TASK.value,
      _TARGET_CLASS.value, _MIXED_PRECISION.value, _SEED.value,
      unlabeled_images=_UNLABELED_IMAGES.value, deterministic=_DETERMINISTIC.value,
      performer_weights=_PERFORMER_WEIGHTS.value,
      performer_learning_rate=_PERFORMER_LEARNING_RATE.value)


if __name__ == "__main__":
  from tf_explainer import cli
  cli.run(main)
