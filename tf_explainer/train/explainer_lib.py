"""Distilling an explainer from a performer (library of training/train_explainer.py).

`run` trains an explainer for the performer in `performer_dir`. Only the
performer's outputs reach the loss: its target maps, fc layers and predicted
class. No dataset label, box or landmark does. The one exception is
`objective="classification"`, the paper's Explainer+cls baseline, which by
definition learns from the true labels instead of the performer's fc features.

`unlabeled_dir`, a second image folder, adds all its images (every split,
labels never read) to the distillation set: the explainer learns from the
performer's outputs alone, so images nobody labelled serve as well as the
training split, and more of them shrink the gap between the explainer's
reconstruction on training and on held-out images.

Every `monitor_every` epochs an `ExplainerMonitor` measures location
instability, p and the errors on up to `monitor_images` images of
`monitor_split` and writes them, with part-map images, to
`<model_dir>/logs/monitor`.

`train_split="train_without_validation"` distils on the training split less
the validation split (`data.validation_mask`), for choosing settings on the
validation split; the monitor then watches the validation split.

Settings left unset take `IMAGENET_RECIPE` when the performer is an ImageNet VGG-16
(`arch=vgg16 weights=imagenet`), the paper's otherwise.

The folder, the resume key, the run record, the callbacks and the checks for
non-finite values are `training_run.TrainingRun`'s: an interrupted run in
`model_dir` resumes from its last epoch; with another performer, data or
setting it is refused, and `restart=True` starts it over. `overwrite=True`
writes into a non-empty `model_dir` that is not an earlier explainer folder.
`on_error="skip"` leaves out images that cannot be decoded instead of failing.
"""

import dataclasses
import os

import keras
import numpy as np

from tf_explainer import settings as settings_lib
from tf_explainer.configs import LAMBDA_F_DIVISOR, ExplainerSettings
from tf_explainer import data as data_lib
from tf_explainer import io_utils
from tf_explainer import performers
from tf_explainer.optimizers import FusedAdam
from tf_explainer.models import io as model_io
from tf_explainer.models.explainer import (
  PAPER_ETA,
  Explainer,
  ExplainerConfig,
)
from tf_explainer.data import pipeline
from tf_explainer.train import distribute
from tf_explainer.train import features as features_lib
from tf_explainer.train import monitor as monitor_lib
from tf_explainer import reproducibility
from tf_explainer.train import trainer as trainer_lib
from tf_explainer.train import training_run


# What an explainer of an `arch=vgg16 weights=imagenet` performer trains with where a
# setting is left unset (the real-photo recipe, chosen on validation: BENCHMARKS.md): one
# interpretable layer, which starts as the performer's conv5_3 channels, the decoder started
# on the performer's scale (decoder_init=rescaled), p starting at 0.99, and the filter loss
# 10x the paper's weight (lambda_f_divisor=30).
IMAGENET_RECIPE = {
  "interp_layers": 1,
  "decoder_init": "rescaled",
  "initial_p": 0.99,
  "lambda_f_divisor": 30.0,
}


def apply_defaults(s, spec):
  """Fills the unset settings of `s` with `IMAGENET_RECIPE` where the performer (its `spec`)
  is an ImageNet VGG-16, then lambda_f's divisor with the paper's 300 (before the resume key
  records it)."""
  if (spec.arch, spec.weights) == ("vgg16", "imagenet"):
    settings_lib.fill_unset(s, IMAGENET_RECIPE)
  settings_lib.fill_unset(s, {"lambda_f_divisor": LAMBDA_F_DIVISOR})


def paper_eta(spec):
  """The paper's eta for the performer's architecture; an imported model (`arch="keras"`)
  gets AlexNet's, 1e6."""
  return PAPER_ETA.get(spec.arch, PAPER_ETA["alexnet"])


def explainer_config(spec, **overrides):
  """The `ExplainerConfig` (the network, without its loss) that fits a performer."""
  # Target map shape from the spec's architecture, measured on the model by the caller.
  values = dict(
    fc_sizes=spec.fc_sizes,
    fc_names=spec.fc_names,
    num_classes=spec.num_classes,
    pool=spec.last_pool,
    filter_category=1 if spec.task == "single" else None,
  )
  values.update({k: v for k, v in overrides.items() if v is not None})
  return ExplainerConfig(**values)


def build_for_performer(model, spec, initialize=True, **overrides):
  """An `Explainer` network for `model`, initialised from its top conv and fc layers."""
  target_shape = tuple(model.get_layer(spec.target_layer).output.shape[1:])
  config = explainer_config(spec, target_shape=target_shape, **overrides)
  explainer = Explainer(config)
  if initialize:
    top_conv = model.get_layer(spec.top_conv_layer)
    top = None
    if isinstance(top_conv, keras.layers.Conv2D) and tuple(top_conv.kernel_size) == (3, 3):
      top = performers.layer_weights(model, spec.top_conv_layer)
    fc = []
    if spec.fc_reads_top_conv:
      fc = [performers.layer_weights(model, name) for name in spec.fc_dense_layers]
    explainer.initialize_from_performer(top, fc)
  return explainer


# Settings a run may change when it resumes: where it writes, how long and how
# it runs, not what it trains.
RESUME_FREE = (
  "model_dir",
  "epochs",
  "strategy",
  "cache",
  "monitor_every",
  "monitor_images",
  "monitor_split",
  "jit_compile",
  "deterministic",
  "overwrite",
  "restart",
  "on_error",
  "verbose",
  "extra_callbacks",
)


@distribute.keeps_global_policy
def run(**settings):
  """Trains an explainer for the performer in `performer_dir`; see the module docstring.

  Args:
    **settings: the fields of `ExplainerSettings` (`tf_explainer.configs`), by keyword.

  Returns:
    `(explainer, metrics)`; `model_dir` holds `explainer.keras`,
    `explainer.json`, `logs/`, `backup/` and `feature_cache/`.
  """
  s = _checked(settings_lib.build(ExplainerSettings, settings))
  model, spec = model_io.load_performer(s.paths.performer_dir)
  spec = performers.retarget(model, spec, s.paths.target_layer)
  apply_defaults(s, spec)
  dataset = _read_dataset(s)
  train = data_lib.select(dataset, s.training.train_split)
  if len(train) == 0:
    raise ValueError(f"dataset_dir={s.paths.dataset_dir} has no training images.")
  strat = distribute.get_strategy(s.runtime.strategy)
  distribute.check_global_batch(s.training.batch_size, strat)
  run_ = training_run.TrainingRun("explainer", settings_lib.flat(s), RESUME_FREE)
  first_epoch = run_.claim(_inputs(s, dataset))
  features, num_images = _features(s, model, spec, train)
  norms, positives = features_lib.feature_statistics(features, spec.fc_names)
  if spec.task == "single" and positives == 0:
    raise ValueError(
      f"The performer in {s.paths.performer_dir} classifies none of the training "
      f"images of {s.paths.dataset_dir} as positive: nothing to explain."
    )
  with strat.scope():
    explainer, trainer = _build_trainer(s, model, spec, norms)
    if first_epoch == 0:  # a resumed run restores its statistics and weights
      explainer.start_decoder(
        features.batch(s.training.batch_size).map(lambda f: (f["maps"], f["positive"]))
      )
  labels = None
  if s.loss.objective == "classification":
    labels = data_lib.task_labels(train.labels, spec.task, spec.target_class)
  examples = features_lib.to_training_pairs(features, spec.fc_names, labels)

  def one_epoch(epoch):
    seed = pipeline.epoch_seed(s.runtime.seed, epoch)
    return examples.shuffle(num_images, seed=seed, reshuffle_each_iteration=False).batch(
      s.training.batch_size, drop_remainder=True
    )

  run_.fit(
    trainer,
    pipeline.epochs(one_epoch, first_epoch, s.training.epochs),
    epochs=s.training.epochs,
    steps_per_epoch=num_images // s.training.batch_size,
    images_per_epoch=(num_images // s.training.batch_size) * s.training.batch_size,
    first=[trainer_lib.LambdaFUpdate()],  # the epoch's lambda_f update goes into its backup
    own=_monitor(s, model, spec, dataset),
  )
  paths = s.paths
  model_io.save_explainer(
    explainer,
    paths.model_dir,
    paths.performer_dir,
    paths.dataset_dir,
    paths.unlabeled_dir,
    s.training.train_split,
    loss=settings_lib.flat(trainer.loss_settings),
    target_layer=paths.target_layer,
  )
  metrics = run_.metrics()
  if s.training.verbose:
    print(
      f"Explainer saved in {s.paths.model_dir}: p = {float(explainer.p):.3f}, "
      f"{s.loss.objective} = {metrics.get(s.loss.objective, float('nan')):.4g}, "
      f"filter loss = {metrics.get('filter_loss', float('nan')):.4g}."
    )
  return explainer, metrics


def _checked(s):
  """`s` with the precision and XLA that `auto` picks here, after the checks across settings."""
  runtime, training, loss = s.runtime, s.training, s.loss
  # The policy auto picks on this machine; a resumed run must find the same.
  runtime.mixed_precision = distribute.set_precision(
    runtime.mixed_precision, verbose=training.verbose
  )
  if runtime.jit_compile is None:
    runtime.jit_compile = distribute.auto_jit(
      runtime.mixed_precision, deterministic=runtime.deterministic
    )
  elif runtime.jit_compile and runtime.deterministic:
    raise ValueError(
      "jit_compile=True with deterministic=True: Keras compiles nothing with XLA under "
      "TensorFlow's op determinism; leave jit_compile unset or turn deterministic off."
    )
  for name, value in (("icnn_centre", loss.icnn_centre), ("icnn_beta", loss.icnn_beta)):
    if value is not None and loss.gradient != "icnn":
      raise ValueError(
        f"{name}={value} applies only to gradient=icnn, not gradient={loss.gradient}."
      )
  if loss.overlap_cap > 1:
    raise ValueError(f"overlap_cap={loss.overlap_cap}: expected a share of the filters, at most 1.")
  if loss.overlap_cap and not loss.overlap_weight:
    raise ValueError(
      f"overlap_cap={loss.overlap_cap} weighs the overlap term: set overlap_weight=W > 0."
    )
  if s.paths.unlabeled_dir and loss.objective == "classification":
    raise ValueError(
      f"unlabeled_dir={s.paths.unlabeled_dir}: the Explainer+cls baseline "
      f"(objective=classification) learns from labels; it cannot use unlabeled images."
    )
  data_lib.check_train_split(training.train_split)
  if training.train_split != "train" and training.monitor_split == "test":
    # No test images while settings are chosen.
    training.monitor_split = data_lib.held_out_split(training.train_split)
  reproducibility.configure(runtime.seed, runtime.deterministic)
  return s


def _read_dataset(s):
  """The images of `dataset_dir`, checked for what the settings need of them."""
  dataset = data_lib.read_checked(s.paths.dataset_dir, s.training.on_error, s.training.verbose)
  if s.loss.objective == "classification":
    data_lib.require_annotations(dataset, "dataset_dir", "the Explainer+cls baseline (its labels)")
  if s.training.train_split != "train":
    data_lib.require_annotations(dataset, "dataset_dir", f"train_split={s.training.train_split}")
  return dataset


def _inputs(s, dataset):
  """What the run reads beyond its settings, for the resume key."""
  return {
    "performer_dir": io_utils.absolute(s.paths.performer_dir),
    "performer": io_utils.fingerprint(os.path.join(s.paths.performer_dir, model_io.PERFORMER_FILE)),
    "dataset_dir": io_utils.absolute(s.paths.dataset_dir),
    "dataset": io_utils.fingerprint(os.path.join(s.paths.dataset_dir, "images.txt"))
    if dataset.layout == "cub"
    else data_lib.fingerprint(dataset),
    "unlabeled_dir": io_utils.absolute(s.paths.unlabeled_dir) if s.paths.unlabeled_dir else None,
  }


def _features(s, model, spec, train):
  """The performer's features of the training (and unlabeled) images, with a zoomed-in
  crop of each for the equivariance term, cached on disk with `cache`; returns `(dataset of
  feature dicts, number of images)`."""
  sources = [(train, "train")]
  if s.paths.unlabeled_dir:
    unlabeled = data_lib.read_checked(
      s.paths.unlabeled_dir, s.training.on_error, s.training.verbose, "unlabeled_dir"
    )
    if len(unlabeled) == 0:
      raise ValueError(f"unlabeled_dir={s.paths.unlabeled_dir} holds no images.")
    sources.append((unlabeled, "unlabeled"))
  num_images = sum(len(subset) for subset, _ in sources)
  batch_size = s.training.batch_size
  if num_images < batch_size:  # before the feature cache costs a pass over the images
    raise ValueError(f"batch_size={batch_size} is larger than the {num_images} training images.")
  parts = []
  zoom = s.loss.equivariance_weight > 0  # the crops the equivariance term compares with
  for subset, name in sources:
    if s.runtime.cache:
      folder = os.path.join(s.paths.model_dir, "feature_cache")
      part, _ = features_lib.cached_features(
        model,
        spec,
        s.paths.performer_dir,
        subset,
        folder,
        name,
        progress=s.training.verbose > 0,
        zoom=zoom,
      )
    else:
      part = features_lib.feature_dataset(model, spec, subset, zoom=zoom)
    parts.append(part)
  features = parts[0] if len(parts) == 1 else parts[0].concatenate(parts[1])
  return features, num_images


def _build_trainer(s, model, spec, norms):
  """The explainer, initialised from the performer, and its compiled trainer."""
  # The network: its own variants, and the mask the filter loss's gradient needs.
  values = {**settings_lib.flat(s.ablations), **settings_lib.flat(s.loss)}
  config_fields = [f.name for f in dataclasses.fields(ExplainerConfig) if f.name in values]
  explainer = build_for_performer(model, spec, **{k: values[k] for k in config_fields})
  if s.loss.eta is None:
    s.loss.eta = paper_eta(spec)
  trainer = trainer_lib.ExplainerTrainer(explainer, s.loss)
  trainer.set_reconstruction_weights(norms)
  gate_rate = s.ablations.gate_learning_rate
  if s.loss.objective == "classification":
    trainer.set_classifier(*performers.layer_weights(model, spec.classifier_layer))
  trainer.compile(
    optimizer=FusedAdam(s.training.learning_rate),
    gate_optimizer=FusedAdam(gate_rate) if gate_rate else None,
    jit_compile=s.runtime.jit_compile,
  )
  return explainer, trainer


def _monitor(s, model, spec, dataset):
  """The `ExplainerMonitor` on up to `monitor_images` of `monitor_split`, or none."""
  held_out = data_lib.select(dataset, s.training.monitor_split)
  if not s.training.monitor_every or not len(held_out):
    return []
  rng = np.random.default_rng(s.runtime.seed)
  keep = np.sort(rng.permutation(len(held_out))[: s.training.monitor_images])
  folder = os.path.join(s.paths.model_dir, "logs", "monitor")
  every = s.training.monitor_every
  return [monitor_lib.ExplainerMonitor(model, spec, held_out.subset(keep), folder, every=every)]
