"""Pretrains a performer on the synthetic pretraining corpus and ships its weights.

Three resumable steps, each skipped when its output exists:
1. the corpus (`tf_explainer.data.synthetic`, `--corpus=pretrain`: 24 species
   that share the demo's parts but none of its categories) in
   `<work_dir>/corpus`;
2. the performer, trained on the corpus's training images
   (`performer_lib.run`; an interrupted run resumes from its backup) in
   `<work_dir>/<arch>`;
3. its weights (all but the classifier) and model card, written to
   `--weights_dir` (default: the package's `tf_explainer/performers/weights`),
   with the accuracy on the corpus's test images.

    python training/pretrain_performer.py --arch=alexnet
    python training/pretrain_performer.py --arch=vgg16

`training/train_performer.py --weights=synthetic` then fine-tunes them.
"""

import os
import shlex
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from tf_explainer import cli  # noqa: E402

# The settings of the shipped networks: the sizes the CPU benchmarks use.
SETTINGS = {"alexnet": dict(image_size=131, width=0.25, fc_units=256, epochs=30,
                            learning_rate=1e-3, batch_size=64),
            "vgg16": dict(image_size=112, width=0.25, fc_units=256, epochs=30,
                          learning_rate=1e-3, batch_size=64)}

_ARCH = flags.DEFINE_enum("arch", "alexnet", list(SETTINGS), "Architecture to pretrain.")
_WORK_DIR = flags.DEFINE_string("work_dir", "runs/pretrain", "Corpus and training runs.")
_WEIGHTS_DIR = flags.DEFINE_string("weights_dir", None, "Where the weights and model card go; "
                                   "default the package's shipped-weights folder.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 12000, "Images in the corpus.", lower_bound=24)
_EPOCHS = flags.DEFINE_integer("epochs", None, "Training epochs; default per architecture "
                               "(30).", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the corpus and of the training run.")
_DETERMINISTIC = flags.DEFINE_boolean("deterministic", True, "TensorFlow's deterministic "
                                      "kernels.")

CORPUS_TRAIN_FRACTION = 0.9


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  import keras
  import numpy as np

  from tf_explainer import data as data_lib
  from tf_explainer import performers
  from tf_explainer.data import synthetic
  from tf_explainer.performers import zoo
  from tf_explainer.train import performer_lib

  arch = _ARCH.value
  settings = dict(SETTINGS[arch])
  if _EPOCHS.value:
    settings["epochs"] = _EPOCHS.value
  corpus = os.path.join(_WORK_DIR.value, "corpus")
  if not os.path.exists(os.path.join(corpus, "images.txt")):
    synthetic.generate(corpus, _NUM_IMAGES.value, seed=_SEED.value, corpus="pretrain",
                       train_fraction=CORPUS_TRAIN_FRACTION)
  model_dir = os.path.join(_WORK_DIR.value, arch)
  start = time.time()
  if not os.path.exists(os.path.join(model_dir, "performer.keras")):
    performer_lib.run(corpus, model_dir, arch=arch, task="multi", seed=_SEED.value,
                      deterministic=_DETERMINISTIC.value, **settings)
  model, spec = performers.load_performer(model_dir)
  dataset = data_lib.read_part_dataset(corpus)
  test = data_lib.split_mask(dataset, "test")
  test_ds = data_lib.make_dataset(dataset.subset(test), spec.image_size,
                                  labels=dataset.labels[test], batch_size=64)
  logits = np.concatenate([model(b["images"], training=False).numpy() for b in test_ds])
  accuracy = float(np.mean(np.argmax(logits, -1) == dataset.labels[test]))
  command = "python training/pretrain_performer.py " + " ".join(
      shlex.quote(a) for a in sys.argv[1:])
  model_card = {
      "name": f"{arch}_synthetic",
      "data": {"corpus": "tf_explainer.data.synthetic, corpus=pretrain",
               "categories": len(dataset.class_names), "images": len(dataset),
               "train_images": int((~test).sum()), "test_images": int(test.sum()),
               "image_size": synthetic.DEFAULT_IMAGE_SIZE, "seed": _SEED.value},
      "training": dict(settings, optimizer="Adam", augmentation="random flips",
                       deterministic=_DETERMINISTIC.value, seed=_SEED.value),
      "test_accuracy": accuracy,
      "command": command.strip(),
      "keras_version": keras.__version__,
      "date": time.strftime("%Y-%m-%d"),
  }
  weights_path, card_path = zoo.export_synthetic(model, spec, model_card, _WEIGHTS_DIR.value)
  print(f"{arch} pretrained on {len(dataset.class_names)} species: test accuracy "
        f"{accuracy:.3f} ({time.time() - start:.0f} s). Weights {weights_path} "
        f"({os.path.getsize(weights_path) / 1e6:.1f} MB), card {card_path}.")


if __name__ == "__main__":
  cli.run(main)
