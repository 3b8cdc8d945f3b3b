"""Distilling an explainer from a performer (library of training/train_explainer.py)."""

import os

import keras
import numpy as np
import tensorflow as tf

from tf_explainer import data as data_lib
from tf_explainer import io_utils
from tf_explainer import explainer as explainer_lib
from tf_explainer import performers
from tf_explainer.data import pipeline
from tf_explainer.train import callbacks as callbacks_lib
from tf_explainer.train import distribute
from tf_explainer.train import features as features_lib
from tf_explainer.train import monitor as monitor_lib
from tf_explainer.train import reproducibility

EXPLAINER_FILE = "explainer.keras"
MANIFEST_FILE = "explainer.json"


def explainer_config(spec, **overrides):
  """The `ExplainerConfig` that fits a performer, with the paper's eta for its arch."""
  # Target map shape from the spec's architecture, measured on the model by the caller.
  values = dict(fc_sizes=(spec.fc_units, spec.fc_units), fc_names=("fc6", "fc7"),
                num_classes=spec.num_classes, pool=spec.last_pool,
                filter_category=1 if spec.task == "single" else None,
                eta=explainer_lib.PAPER_ETA[spec.arch])
  values.update({k: v for k, v in overrides.items() if v is not None})
  return explainer_lib.ExplainerConfig(**values)


def build_for_performer(model, spec, initialize=True, **overrides):
  """An explainer for `model`, initialised from its top conv and fc layers."""
  target_shape = tuple(model.get_layer(spec.target_layer).output.shape[1:])
  config = explainer_config(spec, target_shape=target_shape, **overrides)
  explainer = explainer_lib.Explainer(config)
  if initialize:
    top = performers.layer_weights(model, spec.top_conv_layer)
    fc = [performers.layer_weights(model, name) for name in spec.fc_dense_layers]
    explainer.initialize_from_performer(top, fc)
  return explainer


def run(performer_dir, dataset_dir, model_dir, epochs=10, batch_size=32, strategy="default",
        mixed_precision="float32", cache=True, learning_rate=1e-4, gate_learning_rate=1e-2,
        gradient="approx", icnn_centre=None, icnn_beta=None, mask=None, interp_init=None,
        interp_layers=None, eta=None,
        lambda_l_scale=None, lambda_f_divisor=None, initial_p=None, monitor_every=5,
        monitor_images=64, monitor_split="test", objective="reconstruction", jit_compile=True,
        unlabeled_dir=None, seed=0, deterministic=False, train_split="train", verbose=1,
        extra_callbacks=(), overwrite=False, restart=False, on_error="fail"):
  """Trains an explainer for the performer in `performer_dir`.

  Only the performer's outputs reach the loss: its target maps, fc6, fc7 and
  predicted class. No dataset label, box or landmark does. The one exception
  is `objective="classification"`, the paper's Explainer+cls baseline, which
  by definition learns from the true labels instead of the performer's fc
  features.

  `unlabeled_dir`, a second CUB-layout root, adds all its images (every
  split, labels never read) to the distillation set: the explainer learns from
  the performer's outputs alone, so images nobody labelled serve as well as
  the training split, and more of them shrink the gap between the explainer's
  reconstruction on training and on held-out images.

  Every `monitor_every` epochs an `ExplainerMonitor` measures location
  instability, p and the errors on up to `monitor_images` images of
  `monitor_split` and writes them, with part-map images, to
  `<model_dir>/logs/monitor`.

  `train_split="train_without_validation"` distils on the training split
  less the validation split (`data.validation_mask`), for choosing settings
  on the validation split; the monitor then watches the validation split.

  An interrupted run in `model_dir` resumes from its last epoch; with another
  performer, data or setting it is refused (`callbacks.prepare_resume`), and
  `restart=True` starts it over. `overwrite=True` writes into a non-empty
  `model_dir` that is not an earlier explainer folder. `on_error="skip"`
  leaves out images that cannot be decoded instead of failing.

  Returns:
    `(explainer, metrics)`; `model_dir` holds `explainer.keras`,
    `explainer.json`, `logs/`, `backup/` and `feature_cache/`.
  """
  distribute.set_precision(mixed_precision)
  reproducibility.configure(seed, deterministic)
  model, spec = performers.load_performer(performer_dir)
  dataset = data_lib.read_checked(dataset_dir, on_error, verbose)
  data_lib.check_train_split(train_split)
  for name, value in (("icnn_centre", icnn_centre), ("icnn_beta", icnn_beta)):
    if value is not None and gradient != "icnn":
      raise ValueError(f"--{name}={value} applies only to --gradient=icnn, not "
                       f"--gradient={gradient}.")
  if train_split != "train" and monitor_split == "test":
    monitor_split = data_lib.held_out_split(train_split)  # no test images while tuning
  train = data_lib.select(dataset, train_split)
  if len(train) == 0:
    raise ValueError(f"--dataset_dir={dataset_dir} has no training images.")
  strat = distribute.get_strategy(strategy)
  distribute.check_global_batch(batch_size, strat)
  io_utils.claim_dir(model_dir, "explainer", "model_dir", overwrite)
  callbacks_lib.prepare_resume(model_dir, {
      "performer_dir": io_utils.absolute(performer_dir),
      "performer": io_utils.fingerprint(
          os.path.join(performer_dir, performers.base.MODEL_FILE)),
      "dataset_dir": io_utils.absolute(dataset_dir),
      "dataset": io_utils.fingerprint(os.path.join(dataset_dir, "images.txt")),
      "unlabeled_dir": io_utils.absolute(unlabeled_dir) if unlabeled_dir else None,
      "batch_size": batch_size, "mixed_precision": mixed_precision,
      "learning_rate": learning_rate, "gate_learning_rate": gate_learning_rate,
      "gradient": gradient, "icnn_centre": icnn_centre, "icnn_beta": icnn_beta, "mask": mask,
      "interp_init": interp_init, "interp_layers": interp_layers, "eta": eta, "lambda_l_scale": lambda_l_scale, "lambda_f_divisor": lambda_f_divisor,
      "initial_p": initial_p, "objective": objective, "seed": seed,
      "train_split": train_split}, restart)

  sources = [(train, "train")]
  if unlabeled_dir:
    if objective == "classification":
      raise ValueError(f"--unlabeled_dir={unlabeled_dir}: the Explainer+cls baseline "
                       f"(--objective=classification) learns from labels; it cannot use "
                       f"unlabeled images.")
    unlabeled = data_lib.read_checked(unlabeled_dir, on_error, verbose, "unlabeled_dir")
    if len(unlabeled) == 0:
      raise ValueError(f"--unlabeled_dir={unlabeled_dir} holds no images.")
    sources.append((unlabeled, "unlabeled"))
  num_images = sum(len(subset) for subset, _ in sources)
  if num_images < batch_size:  # before the feature cache costs a pass over the images
    raise ValueError(f"--batch_size={batch_size} is larger than the {num_images} training images.")
  parts = []
  for subset, name in sources:
    if cache:
      part, _ = features_lib.cached_features(
          model, spec, performer_dir, subset, os.path.join(model_dir, "feature_cache"), name,
          progress=verbose > 0)
    else:
      part = features_lib.feature_dataset(model, spec, subset)
    parts.append(part)
  features = parts[0] if len(parts) == 1 else parts[0].concatenate(parts[1])
  norms, positives = features_lib.feature_statistics(features)
  if spec.task == "single":
    if positives == 0:
      raise ValueError(f"The performer in {performer_dir} classifies none of the training "
                       f"images of {dataset_dir} as positive: nothing to explain.")

  with strat.scope():
    explainer = build_for_performer(
        model, spec, gradient=gradient, icnn_centre=icnn_centre, icnn_beta=icnn_beta, mask=mask,
        interp_init=interp_init, interp_layers=interp_layers, eta=eta, lambda_l_scale=lambda_l_scale, lambda_f_divisor=lambda_f_divisor,
        initial_p=initial_p, objective=objective)
    explainer.set_reconstruction_weights(norms)
    if objective == "classification":
      explainer.set_classifier(*performers.layer_weights(model, spec.classifier_layer))
    explainer.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        gate_optimizer=keras.optimizers.Adam(gate_learning_rate) if gate_learning_rate else None,
        jit_compile=jit_compile)

  labels = None
  if objective == "classification":
    labels = data_lib.task_labels(train.labels, spec.task, spec.target_class)
  examples = features_lib.to_training_pairs(features, labels)

  def one_epoch(epoch):
    return examples.shuffle(num_images, seed=pipeline.epoch_seed(seed, epoch),
                            reshuffle_each_iteration=False).batch(batch_size, drop_remainder=True)

  pairs = pipeline.epochs(one_epoch, callbacks_lib.resume_epoch(os.path.join(model_dir, "backup")),
                          epochs)
  reproducibility.write_record(model_dir, seed, deterministic)
  callbacks = list(extra_callbacks)
  held_out = data_lib.select(dataset, monitor_split)
  if monitor_every and len(held_out):
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.permutation(len(held_out))[:monitor_images])
    callbacks.append(monitor_lib.ExplainerMonitor(
        model, spec, held_out.subset(keep), os.path.join(model_dir, "logs", "monitor"),
        every=monitor_every))
  try:
    history = _fit(explainer, pairs, epochs, num_images // batch_size, batch_size, verbose,
                   model_dir, callbacks)
  except tf.errors.InvalidArgumentError as e:
    if "NaN or Inf" not in str(e):
      raise
    raise FloatingPointError(
        f"Training stopped: NaN or Inf reached the interpretable feature maps; the checkpoints "
        f"in {model_dir} are those of the last finished epoch. Lower --learning_rate.") from None
  callbacks_lib.check_finite(history, model_dir)
  save_explainer(explainer, model_dir, performer_dir, dataset_dir, unlabeled_dir, train_split)
  metrics = {k: float(v[-1]) for k, v in history.history.items()}
  if verbose:
    print(f"Explainer saved in {model_dir}: p = {float(explainer.p):.3f}, "
          f"{objective} = {metrics.get(objective, float('nan')):.4g}, "
          f"filter loss = {metrics.get('filter_loss', float('nan')):.4g}.")
  return explainer, metrics


def _fit(explainer, pairs, epochs, steps_per_epoch, batch_size, verbose, model_dir,
         extra_callbacks):
  return explainer.fit(
      pairs, epochs=epochs, verbose=verbose, steps_per_epoch=steps_per_epoch,
      callbacks=[
          # The epoch's lambda_f update goes into the epoch's backup: first.
          explainer_lib.LambdaFUpdate(),
          keras.callbacks.BackupAndRestore(os.path.join(model_dir, "backup"),
                                           double_checkpoint=True),
          keras.callbacks.TerminateOnNaN(),
          callbacks_lib.ThroughputAndLearningRate(steps_per_epoch * batch_size),
          *extra_callbacks,
          keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
      ])


def save_explainer(explainer, model_dir, performer_dir, dataset_dir=None, unlabeled_dir=None,
                   train_split="train"):
  """Writes `explainer.keras` and `explainer.json` (with the performer's path) atomically."""
  io_utils.makedirs(model_dir)
  tmp = os.path.join(model_dir, f".{EXPLAINER_FILE}.tmp.keras")
  explainer.save(tmp)
  io_utils.rename(tmp, os.path.join(model_dir, EXPLAINER_FILE))
  manifest = {"performer_dir": io_utils.absolute(performer_dir),
              "dataset_dir": io_utils.absolute(dataset_dir) if dataset_dir else None,
              "unlabeled_dir": io_utils.absolute(unlabeled_dir) if unlabeled_dir else None,
              "train_split": train_split,
              "config": explainer.config.to_dict()}
  io_utils.write_json(os.path.join(model_dir, MANIFEST_FILE), manifest, default=list)


def load_explainer(explainer_dir):
  """Loads `(explainer, performer_model, performer_spec, manifest)` from an explainer dir.

  Raises:
    ValueError: naming the missing file, or when the explainer does not fit
      the performer it names.
  """
  manifest_path = os.path.join(explainer_dir, MANIFEST_FILE)
  model_path = os.path.join(explainer_dir, EXPLAINER_FILE)
  for path in (manifest_path, model_path):
    if not io_utils.exists(path):
      raise ValueError(f"--explainer_dir={explainer_dir} holds no explainer: {path} is missing.")
  manifest = io_utils.read_json(manifest_path)
  explainer = keras.saving.load_model(model_path)
  model, spec = performers.load_performer(manifest["performer_dir"])
  target = tuple(model.get_layer(spec.target_layer).output.shape[1:])
  if tuple(explainer.config.target_shape) != target:
    raise ValueError(
        f"The explainer in {explainer_dir} expects target maps {explainer.config.target_shape}, "
        f"but the performer in {manifest['performer_dir']} ({spec.arch}) gives {target}.")
  return explainer, model, spec, manifest
