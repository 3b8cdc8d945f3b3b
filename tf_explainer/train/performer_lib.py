"""Training a performer on a CUB-layout dataset (library of training/train_performer.py)."""

import os

import keras
import numpy as np
import tensorflow as tf

from tf_explainer import settings as settings_lib
from tf_explainer.configs import PerformerSettings
from tf_explainer import data as data_lib
from tf_explainer import io_utils, performers
from tf_explainer.models import io as model_io
from tf_explainer.train import callbacks as callbacks_lib
from tf_explainer.train import distribute, training_run
from tf_explainer import reproducibility


# What `arch=vgg16 weights=imagenet` trains with where a setting is left unset: fine-tuned
# for one category at CPU cost (the real-photo recipe, chosen on validation: BENCHMARKS.md).
# Blocks 1-4 keep their ImageNet weights; block 5 and the fc layers learn.
IMAGENET_RECIPE = {
  "image_size": 224,
  "fc_units": 512,
  "freeze_through": "block4_conv3",
  "learning_rate": 1e-4,
  "epochs": 3,
}
DEFAULTS = {"learning_rate": 1e-3, "epochs": 10}


def apply_defaults(s):
  """Fills the unset settings of `s`: the ImageNet recipe where it applies, then `DEFAULTS`."""
  recipe = IMAGENET_RECIPE if (s.network.arch, s.training.weights) == ("vgg16", "imagenet") else {}
  settings_lib.fill_unset(s, {**DEFAULTS, **recipe})


# Settings a run may change when it resumes.
RESUME_FREE = (
  "model_dir",
  "epochs",
  "strategy",
  "deterministic",
  "overwrite",
  "restart",
  "on_error",
  "verbose",
  "extra_callbacks",
)


def teacher_labels(teacher_dir, images, class_names, batch_size=32):
  """The classes the performer in `teacher_dir` predicts for `images` (a `PartDataset`), as
  indices into `class_names`, which must be the teacher's classes in its order.

  Raises:
    ValueError: naming `teacher_dir` when it holds no performer or its classes are not
      `class_names`.
  """
  teacher, spec = model_io.load_performer(teacher_dir, flag="teacher_dir")
  if [str(c) for c in spec.class_names] != [str(c) for c in class_names]:
    raise ValueError(
      f"teacher_dir={teacher_dir}: the teacher's classes {list(spec.class_names)} are not "
      f"the training classes {list(class_names)}."
    )
  batches = data_lib.make_dataset(images, spec.image_size, batch_size=batch_size)
  predicted = [np.argmax(teacher(b["images"], training=False), axis=-1) for b in batches]
  return np.concatenate(predicted).astype(np.int32)


@distribute.keeps_global_policy
def run(**settings):
  """Trains a performer and saves it into `model_dir`; returns `(model, spec, metrics)`.

  `model_dir` gets `performer.keras`, `performer.json`, `logs/` and `backup/`. The
  folder, resume key, callbacks and non-finite checks are `training_run.TrainingRun`'s:
  an interrupted run resumes from its backup; under other settings it is refused
  unless `restart`.

  Args:
    **settings: the fields of `PerformerSettings` (`tf_explainer.configs`), by keyword.
  """
  s = settings_lib.build(PerformerSettings, settings)
  apply_defaults(s)
  s.runtime.mixed_precision = distribute.set_precision(
    s.runtime.mixed_precision, verbose=s.training.verbose
  )
  reproducibility.configure(s.runtime.seed, s.runtime.deterministic)
  _check(s)
  dataset = data_lib.read_checked(s.paths.dataset_dir, s.training.on_error, s.training.verbose)
  data_lib.require_annotations(dataset, "dataset_dir", "training a performer (labels and a split)")
  images, labels, held_out, class_names = _labelled_images(s, dataset)
  _network_settings(s)
  strat = distribute.get_strategy(s.runtime.strategy)
  distribute.check_global_batch(s.training.batch_size, strat)
  steps_per_epoch = -(-len(images) // s.training.batch_size)
  with strat.scope():
    model, spec = _build(s, len(class_names), steps_per_epoch)
  spec.task, spec.target_class, spec.train_split = (
    s.training.task,
    s.training.target_class,
    s.training.train_split,
  )
  spec.weights, spec.class_names = s.training.weights or "scratch", tuple(class_names)
  run_ = training_run.TrainingRun("performer", settings_lib.flat(s), RESUME_FREE)
  first_epoch = run_.claim(_inputs(s))
  num_classes = len(class_names)

  def to_xy(batch):
    targets = batch["labels"]
    if s.training.label_smoothing:  # the smoothed loss takes one-hot targets
      targets = tf.one_hot(targets, num_classes)
    return batch["images"], targets

  train_ds = data_lib.make_dataset(
    images,
    s.network.image_size,
    labels=labels,
    batch_size=s.training.batch_size,
    shuffle=True,
    seed=s.runtime.seed,
    augment=True,
    zoom=s.training.zoom,
    erase=s.training.erase,
    num_epochs=s.training.epochs,
    first_epoch=first_epoch,
  )
  test_ds = data_lib.make_dataset(
    held_out[0], s.network.image_size, labels=held_out[1], batch_size=s.training.batch_size
  )
  stop_at_chance = callbacks_lib.StopAtChance(num_classes)
  run_.fit(
    model,
    train_ds.map(to_xy),
    validation_data=test_ds.map(to_xy),
    epochs=s.training.epochs,
    steps_per_epoch=steps_per_epoch,
    images_per_epoch=len(images),
    own=[callbacks_lib.EpochKeyedRandomness(), stop_at_chance],
  )
  callbacks_lib.check_learning(stop_at_chance, s.paths.model_dir)
  model_io.save_performer(model, spec, s.paths.model_dir)
  metrics = run_.metrics()
  if s.training.verbose:
    print(
      f"Performer {spec.arch} saved in {s.paths.model_dir}: "
      f"val_accuracy = {metrics.get('val_accuracy', float('nan')):.3f}"
    )
  return model, spec, metrics


def _check(s):
  """Refuses settings that contradict one another, in one line."""
  if s.training.target_class is not None and s.training.task != "single":
    raise ValueError(
      f"target_class={s.training.target_class} applies only to task=single, "
      f"not task={s.training.task}."
    )
  data_lib.check_train_split(s.training.train_split)
  data_lib.check_zoom(s.training.zoom)
  data_lib.check_zoom(s.training.erase, "erase")
  if s.training.warmup_epochs >= s.training.epochs:
    raise ValueError(
      f"warmup_epochs={s.training.warmup_epochs} leaves no epoch of training after it: "
      f"expected fewer than epochs={s.training.epochs}."
    )
  if s.training.label_smoothing >= 1:
    raise ValueError(f"label_smoothing={s.training.label_smoothing}: expected a value in [0, 1).")
  if bool(s.paths.unlabeled_dir) != bool(s.paths.teacher_dir):
    raise ValueError(
      "unlabeled_dir and teacher_dir go together: the teacher labels the unlabeled images."
    )
  if s.training.weights not in (None, "synthetic") and s.network.arch not in ("alexnet", "vgg16"):
    raise ValueError(
      f"weights={s.training.weights} applies to arch=alexnet (a bvlc_alexnet.npy file) "
      f"and arch=vgg16 ('imagenet' or a weights file), not arch={s.network.arch}."
    )
  if s.training.synthetic_dir and s.training.weights != "synthetic":
    raise ValueError(
      f"synthetic_dir={s.training.synthetic_dir} applies only to weights=synthetic, "
      f"not weights={s.training.weights}."
    )


def _labelled_images(s, dataset):
  """`(training images, their labels, (held-out images, labels), class names)` of the
  task; with `unlabeled_dir`, its images join the training images, labelled by the
  performer in `teacher_dir`."""
  class_names = [str(c) for c in dataset.class_names]
  if s.training.task == "single":
    s.training.target_class = class_index(s.training.target_class, dataset, s.paths.dataset_dir)
    if s.training.verbose:
      print(
        f"Target class: {class_names[s.training.target_class]} (id "
        f"{_class_id(dataset, s.training.target_class)} in classes.txt).",
        flush=True,
      )
  labels = data_lib.task_labels(dataset.labels, s.training.task, s.training.target_class)
  train = data_lib.split_mask(dataset, s.training.train_split)
  held_out = data_lib.split_mask(dataset, data_lib.held_out_split(s.training.train_split))
  if s.training.task == "single" and not np.any(labels[train] == 1):
    raise ValueError(
      f"dataset_dir={s.paths.dataset_dir} has no training images of target_class="
      f"{class_names[s.training.target_class]}: no positives to learn from."
    )
  if not train.any() or not held_out.any():
    raise ValueError(
      f"dataset_dir={s.paths.dataset_dir} needs both training and test images "
      "(train_test_split.txt)."
    )
  output_names = (
    ["rest", class_names[s.training.target_class]] if s.training.task == "single" else class_names
  )
  images, train_labels = dataset.subset(train), labels[train]
  if s.paths.unlabeled_dir:
    unlabeled = data_lib.read_checked(
      s.paths.unlabeled_dir, s.training.on_error, s.training.verbose, "unlabeled_dir"
    )
    if len(unlabeled) == 0:
      raise ValueError(f"unlabeled_dir={s.paths.unlabeled_dir} holds no images.")
    predicted = teacher_labels(s.paths.teacher_dir, unlabeled, output_names, s.training.batch_size)
    if s.training.verbose:
      print(
        f"Training images: {len(images)} labelled, {len(unlabeled)} labelled by the "
        f"teacher in {s.paths.teacher_dir}.",
        flush=True,
      )
    images = images.concatenate(unlabeled)
    train_labels = np.concatenate([train_labels, predicted])
  return images, train_labels, (dataset.subset(held_out), labels[held_out]), output_names


def _network_settings(s):
  """Fills the network's unset sizes: the shipped network's with weights=synthetic (which
  refuses others), else width 1, fc 4096 and the architecture's input side."""
  if s.training.weights == "synthetic":
    from tf_explainer.performers import zoo

    shipped = zoo.check_settings(
      s.network.arch,
      {
        "width": s.network.width,
        "fc_units": s.network.fc_units,
        "image_size": s.network.image_size,
      },
      s.training.synthetic_dir,
    )
    s.network.width, s.network.fc_units, s.network.image_size = (
      shipped["width"],
      shipped["fc_units"],
      shipped["image_size"],
    )
  s.network.width = s.network.width or 1.0
  s.network.fc_units = s.network.fc_units or 4096
  s.network.image_size = s.network.image_size or {"alexnet": 227}.get(s.network.arch, 224)


def _build(s, num_classes, steps_per_epoch):
  """The performer, with its starting weights and frozen layers, compiled; `(model, spec)`."""
  build_kwargs = (
    {"weights": s.training.weights}
    if s.network.arch == "vgg16" and s.training.weights not in (None, "synthetic")
    else {}
  )
  model, spec = performers.build_performer(
    s.network.arch,
    num_classes,
    s.network.image_size,
    width=s.network.width,
    fc_units=s.network.fc_units,
    **build_kwargs,
  )
  if s.training.weights == "synthetic":
    from tf_explainer.performers import zoo

    zoo.load_synthetic(model, s.network.arch, spec.classifier_layer, s.training.synthetic_dir)
  elif s.network.arch == "alexnet" and s.training.weights:
    from tf_explainer.performers import converters

    converters.load_bvlc_alexnet_npy(model, s.training.weights)
  frozen = freeze_through(model, s.training.freeze_through)
  if frozen and s.training.verbose:
    print(f"Frozen, kept as they start: {', '.join(frozen)}.", flush=True)
  model.compile(
    optimizer=keras.optimizers.Adam(learning_rate(s, steps_per_epoch)),
    loss=(
      keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=s.training.label_smoothing
      )
      if s.training.label_smoothing
      else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    ),
    metrics=["accuracy"],
  )
  return model, spec


def _inputs(s):
  """What the run reads beyond its settings, for the resume key."""
  inputs = {
    "dataset_dir": io_utils.absolute(s.paths.dataset_dir),
    "dataset": io_utils.fingerprint(os.path.join(s.paths.dataset_dir, "images.txt")),
  }
  if s.paths.unlabeled_dir:  # which images joined, and who labelled them
    inputs["unlabeled_dir"] = io_utils.absolute(s.paths.unlabeled_dir)
    inputs["unlabeled"] = io_utils.fingerprint(os.path.join(s.paths.unlabeled_dir, "images.txt"))
    inputs["teacher_dir"] = io_utils.absolute(s.paths.teacher_dir)
    inputs["teacher"] = io_utils.fingerprint(
      os.path.join(s.paths.teacher_dir, model_io.PERFORMER_FILE)
    )
  if s.training.learning_rate_schedule != "constant":  # the schedule's length is part of the run
    inputs["epochs"] = s.training.epochs
  return inputs


def learning_rate(s, steps_per_epoch):
  """The optimizer's learning rate under `learning_rate_schedule` after `warmup_epochs`
  of linear warmup: a float or a schedule."""
  constant = s.training.learning_rate_schedule == "constant"
  if constant and not s.training.warmup_epochs:
    return s.training.learning_rate
  warmup_steps = s.training.warmup_epochs * steps_per_epoch
  return keras.optimizers.schedules.CosineDecay(
    0.0 if warmup_steps else s.training.learning_rate,
    decay_steps=(s.training.epochs - s.training.warmup_epochs) * steps_per_epoch,
    alpha=1.0 if constant else 0.0,  # alpha 1: the rate stays at its peak
    warmup_target=s.training.learning_rate if warmup_steps else None,
    warmup_steps=warmup_steps,
  )


def freeze_through(model, name):
  """Sets every layer of `model` up to and including the layer `name` untrainable;
  returns the names of those with weights (none for `name=None`)."""
  if name is None:
    return []
  names = [layer.name for layer in model.layers]
  if name not in names:
    weighted = [layer.name for layer in model.layers if layer.weights]
    raise ValueError(f"freeze_through={name} is not a layer of the performer: one of {weighted}.")
  layers = model.layers[: names.index(name) + 1]
  for layer in layers:
    layer.trainable = False
  return [layer.name for layer in layers if layer.weights]


def _class_id(dataset, index):
  return int(dataset.class_ids[index]) if dataset.class_ids is not None else index + 1


def class_index(target_class, dataset, dataset_dir):
  """The 0-based index of `target_class`: an id of classes.txt or a class name."""
  class_names = [str(c) for c in dataset.class_names]
  if target_class is None:
    raise ValueError("task=single needs `target_class` (a class id of classes.txt or a name).")
  target = str(target_class)
  if not target.isdigit():
    matches = [
      i for i, name in enumerate(class_names) if name == target or name.split(".", 1)[-1] == target
    ]
    if not matches:
      raise ValueError(f"target_class={target} is not a class of {dataset_dir}: {class_names}.")
    return matches[0]
  ids = [_class_id(dataset, i) for i in range(len(class_names))]
  if int(target) not in ids:
    raise ValueError(
      f"target_class={target} is not a class id of {dataset_dir}/classes.txt "
      f"(ids {ids[0]}..{ids[-1]}; 1-based)."
    )
  return ids.index(int(target))
