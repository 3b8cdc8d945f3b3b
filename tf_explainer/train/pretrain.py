"""Pretraining a performer on the synthetic pretraining corpus, and shipping its weights.

Resumable steps, each skipped when its output exists (a finished network only
under the settings it was trained with, recorded in its `stage.json`):
1. the corpus (`tf_explainer.data.synthetic`, `corpus="pretrain"`: 24 species,
   or `species`, that share the demo's parts but none of its categories) in
   `<work_dir>/corpus`;
2. the performer, trained on the corpus's training images
   (`performer_lib.run`; an interrupted run resumes from its backup) in
   `<work_dir>/<arch>`;
3. unless `shape_epochs=0`, a second stage: the same species drawn with one
   shared appearance (`corpus="pretrain_shapes"`, in `<work_dir>/shapes-corpus`),
   on which only shape tells them apart, trained from the first stage's network
   (exported to `<work_dir>/<arch>-weights`) in `<work_dir>/<arch>-shapes`.
   From scratch that corpus stays at chance; after the first stage it is
   learned, and the network's features serve the demo's categories better
   (docs/research-log.md);
4. the last stage's weights (all but the classifier) and model card (every
   stage's data, settings and accuracy on its corpus's test images), written
   to `weights_dir` (default: the package's `tf_explainer/performers/weights`).

With `continue_from` (an earlier pretraining's `weights_dir`, or `shipped`),
the first stage is skipped: the shape-only stage starts from those weights,
and the model card lists their stages, then this one, and both commands.

    tf-explainer-pretrain-performer --arch=alexnet
    tf-explainer-pretrain-performer --arch=vgg16

`train_performer.py --weights=synthetic` then fine-tunes them.
"""

import os
import time

from tf_explainer import configs
from tf_explainer.configs import PretrainSettings
from tf_explainer.data.synthetic import NUM_PRETRAIN_CATEGORIES, PRETRAIN_CORPORA

# The settings of the shipped networks: the sizes the CPU benchmarks use.
# float32: the policy the shipped weights were trained under, whatever the machine.
_SHARED_SETTINGS = dict(
  shape_epochs=40,
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
assert tuple(ARCH_SETTINGS) == configs.PRETRAIN_ARCHITECTURES, "configs names these choices"
# The fields of `PretrainSettings` that override `ARCH_SETTINGS` when set.
_OVERRIDES = ("epochs", "width", "fc_units", "learning_rate_schedule", "mixed_precision")
CORPUS_TRAIN_FRACTION = 0.9
STAGE_FILE = "stage.json"
CONTINUED_FILE = "continued_from.json"


def _corpus(s, corpus_name, folder):
  """`<work_dir>/<folder>`, holding the corpus `corpus_name`: made there unless it exists;
  an existing one must be that corpus, of `species` species."""
  from tf_explainer import io_utils
  from tf_explainer.data import synthetic

  corpus = os.path.join(s.work_dir, folder)
  species = s.species or NUM_PRETRAIN_CATEGORIES
  if os.path.exists(os.path.join(corpus, "images.txt")):
    # Folders from before the record are the first corpus's, of 24 species.
    found = io_utils.owner(corpus, "corpus") or PRETRAIN_CORPORA[0]
    found_species = io_utils.owner(corpus, "species") or NUM_PRETRAIN_CATEGORIES
    if (found, found_species) != (corpus_name, species):
      raise ValueError(
        f"work_dir={s.work_dir}: {corpus} holds the corpus {found} of {found_species} "
        f"species, not {corpus_name} of {species}: use another --work_dir."
      )
  else:
    synthetic.generate(
      corpus,
      s.num_images,
      seed=s.seed,
      corpus=corpus_name,
      train_fraction=CORPUS_TRAIN_FRACTION,
      species=species,
    )
  return corpus


def _test_accuracy(model, spec, dataset, test):
  """The accuracy of `model` on the images of `dataset` where `test` is set."""
  import numpy as np

  from tf_explainer import data as data_lib

  test_ds = data_lib.make_dataset(
    dataset.subset(test), spec.image_size, labels=dataset.labels[test], batch_size=64
  )
  logits = np.concatenate([model(b["images"], training=False).numpy() for b in test_ds])
  return float(np.mean(np.argmax(logits, -1) == dataset.labels[test]))


def _stage(s, corpus_name, name, training, **start_from):
  """One pretraining stage: the corpus `corpus_name` in `<work_dir>/<name>-corpus`
  (`corpus` for the first stage's, as before there were two), the network in
  `<work_dir>/<arch>[-<name>]`; each skipped when it exists. Returns
  `(model, spec, card entry)`."""
  from tf_explainer import data as data_lib
  from tf_explainer import io_utils
  from tf_explainer.data import synthetic
  from tf_explainer.models import io as model_io
  from tf_explainer.train import performer_lib

  first = corpus_name == PRETRAIN_CORPORA[0]
  corpus = _corpus(s, corpus_name, "corpus" if first else f"{name}-corpus")
  model_dir = os.path.join(s.work_dir, s.arch if first else f"{s.arch}-{name}")
  # The settings a stage was started with: a finished stage is reused only under
  # them (its own resume check covers an interrupted one, which may change epochs).
  record = os.path.join(model_dir, STAGE_FILE)
  if os.path.exists(os.path.join(model_dir, model_io.PERFORMER_FILE)):
    done = io_utils.read_json(record) if os.path.exists(record) else training
    changed = [f"{k}={done.get(k)}, not {v}" for k, v in training.items() if done.get(k) != v]
    if changed:
      raise ValueError(
        f"work_dir={s.work_dir}: {model_dir} was trained with {'; '.join(changed)}: "
        "use another --work_dir."
      )
  else:
    io_utils.claim_dir(model_dir, "performer", "work_dir")
    io_utils.write_json(record, training)
    performer_lib.run(
      dataset_dir=corpus,
      model_dir=model_dir,
      arch=s.arch,
      task="multi",
      seed=s.seed,
      deterministic=s.deterministic,
      **training,
      **start_from,
    )
  model, spec = model_io.load_performer(model_dir)
  dataset = data_lib.read_part_dataset(corpus)
  test = data_lib.split_mask(dataset, "test")
  accuracy = _test_accuracy(model, spec, dataset, test)
  print(f"{s.arch} on corpus={corpus_name}: test accuracy {accuracy:.3f}.", flush=True)
  entry = {
    "data": {
      "corpus": f"tf_explainer.data.synthetic, corpus={corpus_name}",
      "categories": len(dataset.class_names),
      "images": len(dataset),
      "train_images": int((~test).sum()),
      "test_images": int(test.sum()),
      "image_size": synthetic.DEFAULT_IMAGE_SIZE,
      "seed": s.seed,
    },
    "training": dict(
      training,
      start="the previous stage's network" if start_from else "scratch",
      optimizer="Adam",
      augmentation="random flips",
      deterministic=s.deterministic,
      seed=s.seed,
    ),
    "test_accuracy": accuracy,
  }
  return model, spec, entry


def run(**settings):
  """Runs the steps; returns `(weights_path, card_path, test_accuracy)`.

  Args:
    **settings: the fields of `PretrainSettings`, by keyword.
  """
  import keras

  from tf_explainer.performers import zoo

  s = PretrainSettings(**settings)
  training = dict(ARCH_SETTINGS[s.arch])
  shape_epochs = training.pop("shape_epochs")
  if s.shape_epochs is not None:
    shape_epochs = s.shape_epochs
  # The settings left unset keep the architecture's.
  for name in _OVERRIDES:
    if getattr(s, name) is not None:
      training[name] = getattr(s, name)
  start = time.time()
  command = s.command
  if s.continue_from:
    from tf_explainer import io_utils

    directory = zoo.WEIGHTS_DIR if s.continue_from == "shipped" else s.continue_from
    if not shape_epochs:
      raise ValueError(
        f"continue_from={s.continue_from} trains the shape-only stage: set shape_epochs >= 1."
      )
    # The card continued from, kept: a rerun that wrote its weights over those it
    # started from (continue_from=shipped, the default weights_dir) lists them once.
    record = os.path.join(s.work_dir, CONTINUED_FILE)
    if os.path.exists(record):
      earlier = io_utils.read_json(record)
    else:
      earlier = zoo.card(s.arch, directory)
      zoo.check_settings(s.arch, training, directory)
      os.makedirs(s.work_dir, exist_ok=True)
      io_utils.write_json(record, earlier)
    stages = list(earlier.get("stages", []))
    command = " && ".join(c for c in (earlier.get("command"), s.command) if c)
  else:
    model, spec, entry = _stage(s, PRETRAIN_CORPORA[0], "", training)
    stages = [entry]
    if shape_epochs:
      # The second stage starts from the first one's network, exported as
      # `--weights=synthetic` reads it.
      directory = os.path.join(s.work_dir, f"{s.arch}-weights")
      zoo.export_synthetic(model, spec, {"stages": stages}, directory)
  if shape_epochs:
    model, spec, entry = _stage(
      s,
      PRETRAIN_CORPORA[1],
      "shapes",
      dict(training, epochs=shape_epochs),
      weights="synthetic",
      synthetic_dir=directory,
    )
    stages.append(entry)
  model_card = {
    "name": f"{s.arch}_synthetic",
    "stages": stages,
    "test_accuracy": entry["test_accuracy"],
    "command": command,
    "keras_version": keras.__version__,
    "date": time.strftime("%Y-%m-%d"),
  }
  weights_path, card_path = zoo.export_synthetic(model, spec, model_card, s.weights_dir)
  print(
    f"{s.arch} pretrained in {len(stages)} stage(s): test accuracy "
    f"{entry['test_accuracy']:.3f} ({time.time() - start:.0f} s). Weights {weights_path} "
    f"({os.path.getsize(weights_path) / 1e6:.1f} MB), card {card_path}."
  )
  return weights_path, card_path, entry["test_accuracy"]
