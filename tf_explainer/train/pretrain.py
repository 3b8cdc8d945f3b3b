"""Pretraining a performer on the synthetic pretraining corpus, and shipping its weights.

Three resumable steps, each skipped when its output exists:
1. the corpus (`tf_explainer.data.synthetic`, `corpus="pretrain"`: 24 species
   that share the demo's parts but none of its categories) in
   `<work_dir>/corpus`;
2. the performer, trained on the corpus's training images
   (`performer_lib.run`; an interrupted run resumes from its backup) in
   `<work_dir>/<arch>`;
3. its weights (all but the classifier) and model card, written to
   `weights_dir` (default: the package's `tf_explainer/performers/weights`),
   with the accuracy on the corpus's test images.

    tf-explainer-pretrain-performer --arch=alexnet
    tf-explainer-pretrain-performer --arch=vgg16

`train_performer.py --weights=synthetic` then fine-tunes them.
"""

import dataclasses
import os
import time
from typing import Optional

from tf_explainer import settings as settings_lib
from tf_explainer.settings import setting

# The settings of the shipped networks: the sizes the CPU benchmarks use.
# float32: the policy the shipped weights were trained under, whatever the machine.
_SHARED_SETTINGS = dict(
  width=0.25,
  fc_units=256,
  epochs=30,
  learning_rate=1e-3,
  learning_rate_schedule="constant",
  batch_size=64,
  mixed_precision="float32",
)
ARCH_SETTINGS = {
  "alexnet": dict(_SHARED_SETTINGS, image_size=131),
  "vgg16": dict(_SHARED_SETTINGS, image_size=112),
}
CORPUS_TRAIN_FRACTION = 0.9
PRETRAIN_CORPORA = ("pretrain", "pretrain_shapes")


@dataclasses.dataclass
class PretrainSettings(settings_lib.Settings):
  """The settings of pretraining (`run`, `pretrain_performer.py`)."""

  arch: str = setting("alexnet", "Architecture to pretrain.", choices=tuple(ARCH_SETTINGS))
  work_dir: str = setting("runs/pretrain", "Corpus and training runs.")
  weights_dir: Optional[str] = setting(
    None, "Where the weights and model card go; default the package's shipped-weights folder."
  )
  corpus: str = setting(
    "pretrain",
    "The synthetic corpus: pretrain (24 species, each with its own appearance; the shipped "
    "weights) or pretrain_shapes (the same species with one shared appearance).",
    choices=PRETRAIN_CORPORA,
  )
  num_images: int = setting(12000, "Images in the corpus.", lower_bound=24)
  epochs: Optional[int] = setting(
    None, "Training epochs; default per architecture (30).", lower_bound=1
  )
  learning_rate_schedule: Optional[str] = settings_lib.learning_rate_schedule_setting(
    None, "Learning-rate schedule (train_performer.py's); default per architecture (constant)."
  )
  seed: int = setting(0, "Seed of the corpus and of the training run.")
  deterministic: bool = setting(True, "TensorFlow's deterministic kernels.")
  command: str = setting("", "The command line, recorded in the model card.", flag=False)


def run(**settings):
  """Runs the three steps; returns `(weights_path, card_path, test_accuracy)`.

  Args:
    **settings: the fields of `PretrainSettings`, by keyword.
  """
  import keras
  import numpy as np

  from tf_explainer import data as data_lib
  from tf_explainer import io_utils
  from tf_explainer.data import synthetic
  from tf_explainer.models import io as model_io
  from tf_explainer.performers import zoo
  from tf_explainer.train import performer_lib

  s = PretrainSettings(**settings)
  if s.corpus != PRETRAIN_CORPORA[0] and not s.weights_dir:
    raise ValueError(
      f"corpus={s.corpus} needs --weights_dir: the package's folder holds the shipped "
      f"weights, pretrained on corpus={PRETRAIN_CORPORA[0]}."
    )
  training = dict(ARCH_SETTINGS[s.arch])
  if s.epochs:
    training["epochs"] = s.epochs
  if s.learning_rate_schedule:
    training["learning_rate_schedule"] = s.learning_rate_schedule
  corpus = os.path.join(s.work_dir, "corpus")
  if os.path.exists(os.path.join(corpus, "images.txt")):
    # Folders from before the record are the default corpus's.
    found = io_utils.owner(corpus, "corpus") or "pretrain"
    if found != s.corpus:
      raise ValueError(
        f"work_dir={s.work_dir} holds the corpus {found}, not corpus={s.corpus}: "
        "use another --work_dir."
      )
  else:
    synthetic.generate(
      corpus, s.num_images, seed=s.seed, corpus=s.corpus, train_fraction=CORPUS_TRAIN_FRACTION
    )
  model_dir = os.path.join(s.work_dir, s.arch)
  start = time.time()
  if not os.path.exists(os.path.join(model_dir, model_io.PERFORMER_FILE)):
    performer_lib.run(
      dataset_dir=corpus,
      model_dir=model_dir,
      arch=s.arch,
      task="multi",
      seed=s.seed,
      deterministic=s.deterministic,
      **training,
    )
  model, spec = model_io.load_performer(model_dir)
  dataset = data_lib.read_part_dataset(corpus)
  test = data_lib.split_mask(dataset, "test")
  test_ds = data_lib.make_dataset(
    dataset.subset(test), spec.image_size, labels=dataset.labels[test], batch_size=64
  )
  logits = np.concatenate([model(b["images"], training=False).numpy() for b in test_ds])
  accuracy = float(np.mean(np.argmax(logits, -1) == dataset.labels[test]))
  model_card = {
    "name": f"{s.arch}_synthetic",
    "data": {
      "corpus": f"tf_explainer.data.synthetic, corpus={s.corpus}",
      "categories": len(dataset.class_names),
      "images": len(dataset),
      "train_images": int((~test).sum()),
      "test_images": int(test.sum()),
      "image_size": synthetic.DEFAULT_IMAGE_SIZE,
      "seed": s.seed,
    },
    "training": dict(
      training,
      optimizer="Adam",
      augmentation="random flips",
      deterministic=s.deterministic,
      seed=s.seed,
    ),
    "test_accuracy": accuracy,
    "command": s.command,
    "keras_version": keras.__version__,
    "date": time.strftime("%Y-%m-%d"),
  }
  weights_path, card_path = zoo.export_synthetic(model, spec, model_card, s.weights_dir)
  print(
    f"{s.arch} pretrained on {len(dataset.class_names)} species: test accuracy "
    f"{accuracy:.3f} ({time.time() - start:.0f} s). Weights {weights_path} "
    f"({os.path.getsize(weights_path) / 1e6:.1f} MB), card {card_path}."
  )
  return weights_path, card_path, accuracy
