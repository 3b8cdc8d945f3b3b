"""How much of the demo's categories pretrained weights already tell apart: a linear probe.

Builds the architecture's network with the shipped synthetic weights of each
`--weights_dirs` folder (no fine-tuning), takes its fc7 features (and the
top conv layer's, max-pooled over positions) of the ablation study's images,
and fits the softmax regression of `orderless_baseline.py` on the training
split less the validation split; reports the validation accuracy (mean of 3
seeds). Pretrained weights whose probe is better carry more of what the
target categories need, whatever fine-tuning then does with them. Writes
`benchmarks/results/NAME.json`:

    python -m benchmarks.linear_probe --dataset_dir=runs/ablations/data \\
        --weights_dirs=tf_explainer/performers/weights,runs/pretrain-cosine60/weights
"""

import os

import numpy as np
from absl import app, flags

from benchmarks import common

_DATASET_DIR = flags.DEFINE_string("dataset_dir", "runs/ablations/data", "CUB-layout root.")
_ARCH = flags.DEFINE_enum("arch", "alexnet", ["alexnet", "vgg16"], "Architecture.")
_WEIGHTS_DIRS = flags.DEFINE_list(
  "weights_dirs",
  ["tf_explainer/performers/weights"],
  "Folders holding <arch>_synthetic.npz and its model card.",
)
_EPOCHS = flags.DEFINE_integer("epochs", 500, "Full-batch epochs of the regression.")
_NAME = flags.DEFINE_string(
  "name", "linear_probe", "The results file, benchmarks/results/NAME.json."
)


def probe(weights_dir, train, validation, classes):
  import keras

  from tf_explainer import performers
  from tf_explainer.data import pipeline
  from tf_explainer.performers import zoo

  card = zoo.card(_ARCH.value, weights_dir)
  model, spec = performers.build_performer(
    _ARCH.value, classes, card["image_size"], width=card["width"], fc_units=card["fc_units"]
  )
  zoo.load_synthetic(model, _ARCH.value, spec.classifier_layer, directory=weights_dir)
  layers = {"fc7": spec.fc_names[-1], "top_conv_max": spec.top_conv_layer}
  extract = keras.Model(model.inputs, [model.get_layer(n).output for n in layers.values()])

  def features(dataset):
    batches = pipeline.make_dataset(dataset, card["image_size"], batch_size=64, cache=False)
    outs = [extract(b["images"], training=False) for b in batches]
    fc = np.concatenate([o[0].numpy() for o in outs])
    conv = np.concatenate([o[1].numpy().max(axis=(1, 2)) for o in outs])
    return {"fc7": fc, "top_conv_max": conv}

  train_f, val_f = features(train), features(validation)
  result = {"weights": os.path.join(weights_dir, f"{_ARCH.value}_synthetic.npz")}
  result["corpus_test_accuracy"] = card["test_accuracy"]
  result["training"] = card.get("stages") or card["training"]
  for name in layers:
    scores = common.regression_accuracies(
      train_f[name], train.labels, val_f[name], validation.labels, classes, epochs=_EPOCHS.value
    )
    result[f"{name}_validation_accuracy"] = float(np.mean(scores))
    print(f"{weights_dir} {name}: validation accuracy {np.mean(scores):.3f} {scores}", flush=True)
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  dataset, train, validation = common.validation_split(_DATASET_DIR.value)
  classes = len(dataset.class_names)
  results = {
    "dataset_dir": _DATASET_DIR.value,
    "arch": _ARCH.value,
    "train_images": len(train),
    "validation_images": len(validation),
    "probes": [probe(d, train, validation, classes) for d in _WEIGHTS_DIRS.value],
  }
  common.write(_NAME.value, results)


if __name__ == "__main__":
  app.run(main)
