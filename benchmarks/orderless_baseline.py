"""Can the synthetic categories be told apart without parts? An orderless baseline.

A multinomial logistic regression on features that keep no spatial layout:
the colour histogram of the object's box (6 x 6 x 6 bins) and texture
statistics (per channel, the mean absolute difference of neighbouring pixels
at strides 1, 2 and 4, along rows and columns). Trained on the training split
less the validation split, measured on the validation split, as the ablations
are. If it comes near the performers' accuracy, the categories are separable
by colour and texture alone, and a performer has little reason to learn part
detectors. Writes `benchmarks/results/orderless_baseline.json`.

    python -m benchmarks.orderless_baseline --dataset_dir=runs/ablations/data
    python -m benchmarks.orderless_baseline --dataset_dir=runs/ablations-shapes/data \
        --name=orderless_baseline_shapes
"""

import numpy as np
from absl import app, flags

from benchmarks import common

_DATASET_DIR = flags.DEFINE_string("dataset_dir", "runs/ablations/data", "CUB-layout root.")
_SIZE = flags.DEFINE_integer("image_size", 64, "Box crops are resized to this size.")
_EPOCHS = flags.DEFINE_integer("epochs", 500, "Full-batch epochs of the regression.")
_NAME = flags.DEFINE_string(
  "name", "orderless_baseline", "The results file, benchmarks/results/NAME.json."
)

BINS = 6


def features(images):
  """`(N, F)` orderless features of `(N, S, S, 3)` images in [0, 1]."""
  n = len(images)
  index = np.minimum((images * BINS).astype(int), BINS - 1)
  flat = (index[..., 0] * BINS + index[..., 1]) * BINS + index[..., 2]
  histogram = np.stack([np.bincount(f.ravel(), minlength=BINS**3) for f in flat]) / flat[0].size
  texture = []
  for stride in (1, 2, 4):
    rows = np.abs(images[:, stride:] - images[:, :-stride]).mean(axis=(1, 2))
    cols = np.abs(images[:, :, stride:] - images[:, :, :-stride]).mean(axis=(1, 2))
    texture += [rows, cols]
  stats = [images.mean(axis=(1, 2)), images.std(axis=(1, 2))]
  return np.concatenate([histogram] + texture + stats, axis=1).reshape(n, -1).astype(np.float32)


def load(dataset, size):
  """`(N, S, S, 3)` box crops in [0, 1], in the dataset's order (the performers' pipeline)."""
  from tf_explainer.data import pipeline

  batches = pipeline.make_dataset(dataset, size, batch_size=64, cache=False)
  images = np.concatenate([batch["images"].numpy() for batch in batches])
  return np.clip(images / 255.0, 0.0, 1.0)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  dataset, train, validation = common.validation_split(_DATASET_DIR.value)
  train_f = features(load(train, _SIZE.value))
  val_f = features(load(validation, _SIZE.value))
  classes = len(dataset.class_names)
  hist = slice(0, BINS**3)
  results = {"train_images": len(train_f), "validation_images": len(val_f), "classes": classes}
  for name, columns in (("colour_histogram", hist), ("colour_and_texture", slice(None))):
    scores = common.regression_accuracies(
      train_f[:, columns],
      train.labels,
      val_f[:, columns],
      validation.labels,
      classes,
      epochs=_EPOCHS.value,
    )
    results[f"{name}_validation_accuracy"] = float(np.mean(scores))
    print(f"{name}: validation accuracy {np.mean(scores):.3f} (seeds {scores})", flush=True)
  results["dataset_dir"] = _DATASET_DIR.value
  common.write(_NAME.value, results)


if __name__ == "__main__":
  app.run(main)
