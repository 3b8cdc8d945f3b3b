"""The explainer: an auto-encoder that disentangles a performer's target layer.

Structure (SPEC section 1):

    target map (L, L, D)
      interpretable track: [conv 3x3 -> ReLU -> TemplateMask] x n -> NormLayer -> pool
      ordinary track:      [conv 3x3 -> ReLU] x m                 -> NormLayer -> pool
      SigmoidGate:         x_enc = p * x_interp + (1 - p) * x_ordin
      decoder:             flatten -> [dense -> ReLU] per reconstructed fc layer

Loss per image (batch means throughout):

    sum_l lambda_l * ||x_l - x*_l||^2  -  eta * log p  +  sum_f lambda_f * Loss_f

* `lambda_l = lambda_l_scale / E||max(x*_l, 0)||`, set from data by
  `set_reconstruction_weights` (5e4 in the paper).
* `eta` is applied once per image, like the reconstruction term (the paper's
  1e6 / 1.5e5 assume MatConvNet's sums; `ExplainerConfig.eta` records ours).
* `Loss_f` is the filter loss of every interpretable filter of every
  interpretable layer. On the last one it sees `x'_f = p x_f + (1 - p)
  stop_gradient(x_ordin_f)`, so it raises p and trains the filter but sends no
  gradient into the ordinary track. `x_f` is the post-ReLU, pre-mask map.
* `lambda_f = E||dLoss_rec/dx_f|| / E||dLoss_f/dx_f|| / (lambda_f_divisor * N)`
  for epoch N, from gradient norms accumulated over the previous epoch (the
  first epoch uses its first batch). `LambdaFUpdate` (a Keras callback) calls
  `update_filter_loss_weights` at every epoch end.
"""

import dataclasses
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tf_explainer import io_utils, replicas
from tf_explainer import templates as templates_lib
from tf_explainer.layers import NormLayer, SigmoidGate, TemplateMask
from tf_explainer.losses.filter_loss import CENTRES, GRADIENTS, filter_loss, icnn_beta_target

OBJECTIVES = ("reconstruction", "classification")
INTERP_INITS = ("random", "identity")
ICNN_BETAS = ("adaptive", "fixed")
ICNN_START_BETA = 2.0  # the reference implementation's starting mask sharpness
PAPER_ETA = {"alexnet": 1e6, "vgg_m": 1e6, "vgg_s": 1e6, "vgg16": 1.5e5}


@dataclasses.dataclass
class ExplainerConfig:
  """Everything that defines an explainer.

  Attributes:
    target_shape: `(L, L, D)` of the performer's target layer.
    fc_sizes: widths of the reconstructed fc layers, e.g. `(4096, 4096)`.
    fc_names: names of those layers in the targets, e.g. `("fc6", "fc7")`.
    num_classes: classes of the performer (2 for single-category), for the
      filters' categories.
    filter_category: the one category of every interpretable filter, or
      `None` to assign each filter to the class whose images activate it most.
      A single-category explainer uses 1 (the target class): every filter
      describes a part of the target category and stays silent on the rest,
      which is a mixture of categories, not one.
    interp_layers: number of interpretable conv layers.
    ordin_layers: number of ordinary conv layers.
    filters: filters per conv layer; `None` for D.
    pool: the performer's last pooling as `{"pool_size", "strides", "padding"}`
      (max pooling), or `None` for none.
    beta: template fall-off.
    eta: weight of `-log p`, per image.
    lambda_l_scale: numerator of `lambda_l` (5e4 in the paper).
    lambda_f_divisor: the 300 of `lambda_f = ... / (300 N)`.
    initial_p: `p` before training.
    gradient: `"approx"`, `"exact"` or `"icnn"` filter-loss gradient; `"icnn"`
      (the reference implementation's, SPEC section 1) also gives the
      interpretable layers the reference's mask.
    icnn_centre: `"icnn"`: each map's centre, `"mass"` or `"argmax"`.
    icnn_beta: `"icnn"`: `"adaptive"` (each filter's mask sharpness moves
      toward `clip(3 / sigma, 1.5, 3)` every step) or `"fixed"` (stays at 2).
    icnn_beta_rate: `"icnn"`: the share of the way to that target per step.
    interp_init: how the interpretable conv layers after the first start:
      `"random"` (the paper), or `"identity"` (centre tap the identity, zero
      bias), so that at the start the part maps are the first layer's masked
      maps (a copy of the performer's top conv) and the decoder, copied from
      fc6 and fc7, reads what it was trained on.
    mask: apply the interpretable layers' masks in the forward pass (`False`
      is the ablation without them; the filter loss is unchanged).
    norm_momentum: momentum of the NormLayer statistics.
    objective: `"reconstruction"` (the explainer) or `"classification"`: the
      paper's Explainer+cls baseline, whose data term is the cross-entropy of
      the performer's classifier on the decoder output against the true labels
      (weighted by `lambda_l_scale`).
  """

  target_shape: Sequence[int]
  fc_sizes: Sequence[int] = (4096, 4096)
  fc_names: Sequence[str] = ("fc6", "fc7")
  num_classes: int = 2
  filter_category: Optional[int] = None
  interp_layers: int = 2
  ordin_layers: int = 1
  filters: Optional[int] = None
  pool: Optional[dict] = None
  beta: float = templates_lib.DEFAULT_BETA
  eta: float = 1e6
  lambda_l_scale: float = 5e4
  lambda_f_divisor: float = 300.0
  initial_p: float = 0.5
  gradient: str = "approx"
  icnn_centre: str = "mass"
  icnn_beta: str = "adaptive"
  icnn_beta_rate: float = 0.05
  mask: bool = True
  interp_init: str = "random"
  norm_momentum: float = 0.99
  objective: str = "reconstruction"

  def __post_init__(self):
    self.target_shape = tuple(int(v) for v in self.target_shape)
    self.fc_sizes = tuple(int(v) for v in self.fc_sizes)
    self.fc_names = tuple(str(v) for v in self.fc_names)
    if len(self.target_shape) != 3 or self.target_shape[0] != self.target_shape[1]:
      raise ValueError(f"target_shape must be (L, L, D) with square maps, got {self.target_shape}.")
    if min(self.target_shape) < 1:
      raise ValueError(f"target_shape must be positive, got {self.target_shape}.")
    if len(self.fc_sizes) != len(self.fc_names) or not self.fc_sizes:
      raise ValueError(f"fc_sizes {self.fc_sizes} and fc_names {self.fc_names} must pair up.")
    if self.interp_layers < 1 or self.ordin_layers < 1:
      raise ValueError("An explainer needs at least one interpretable and one ordinary conv layer.")
    if self.gradient not in GRADIENTS:
      raise ValueError(f"gradient must be one of {GRADIENTS}, got {self.gradient!r}.")
    if self.icnn_centre not in CENTRES:
      raise ValueError(f"icnn_centre must be one of {CENTRES}, got {self.icnn_centre!r}.")
    if self.icnn_beta not in ICNN_BETAS:
      raise ValueError(f"icnn_beta must be one of {ICNN_BETAS}, got {self.icnn_beta!r}.")
    if not 0.0 <= self.icnn_beta_rate <= 1.0:
      raise ValueError(f"icnn_beta_rate must be in [0, 1], got {self.icnn_beta_rate}.")
    if self.interp_init not in INTERP_INITS:
      raise ValueError(f"interp_init must be one of {INTERP_INITS}, got {self.interp_init!r}.")
    if self.objective not in OBJECTIVES:
      raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}.")
    if self.num_classes < 1:
      raise ValueError(f"num_classes must be positive, got {self.num_classes}.")
    if self.filter_category is not None and not 0 <= self.filter_category < self.num_classes:
      raise ValueError(f"filter_category must be in [0, {self.num_classes}) or None, "
                       f"got {self.filter_category}.")
    if self.pool is not None:
      unknown = set(self.pool) - {"pool_size", "strides", "padding"}
      if unknown:
        raise ValueError(f"Unknown pool keys {sorted(unknown)}.")

  @property
  def width(self):
    return self.filters or self.target_shape[-1]

  def to_dict(self):
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values):
    return io_utils.dataclass_from_dict(cls, values, "ExplainerConfig")


def _conv(name, filters):
  return keras.layers.Conv2D(filters, 3, padding="same", use_bias=True, name=name)


@keras.saving.register_keras_serializable(package="tf_explainer")
class Explainer(keras.Model):
  """The explainer network with its own training step.

  Call it on target maps `(batch, L, L, D)`; it returns a dict with one entry
  per reconstructed fc layer (post-ReLU), `part_maps` (the last interpretable
  layer after ReLU and mask) and `p`.

  Train it with `fit` on `(target_maps, targets)` where `targets` is a dict of
  the performer's post-ReLU fc features under `config.fc_names`, its predicted
  class under `"category"`, and optionally `"positive"`, a `(batch,)` mask of
  the images that update the NormLayer statistics.
  """

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    if isinstance(config, dict):
      config = ExplainerConfig.from_dict(config)
    self.config = config
    width = config.width
    size = config.target_shape[0]
    self.interp_convs = [_conv(f"conv_interp_{i + 1}", width) for i in range(config.interp_layers)]
    if config.gradient == "icnn":
      self.interp_masks = [
          TemplateMask(ICNN_START_BETA, mode="icnn", centre=config.icnn_centre,
                       name=f"mask_interp_{i + 1}") for i in range(config.interp_layers)]
    else:
      self.interp_masks = [TemplateMask(config.beta, name=f"mask_interp_{i + 1}")
                           for i in range(config.interp_layers)]
    self.ordin_convs = [
        _conv("conv_ordin" if config.ordin_layers == 1 else f"conv_ordin_{i + 1}", width)
        for i in range(config.ordin_layers)]
    self.norm_interp = NormLayer(config.norm_momentum, name="norm_interp")
    self.norm_ordin = NormLayer(config.norm_momentum, name="norm_ordin")
    if config.pool:
      self.pool = keras.layers.MaxPooling2D(**config.pool, name="pool")
    else:
      self.pool = keras.layers.Identity(name="pool")
    self.gate = SigmoidGate(config.initial_p, name="gate")
    self.flatten = keras.layers.Flatten(name="flatten")
    self.decoder = [
        keras.layers.Dense(units, activation="relu", name=f"fc_dec_{i + 1}")
        for i, units in enumerate(config.fc_sizes)]
    self.templates = tf.constant(templates_lib.part_templates(size, config.beta))

    n_layers, n_classes = config.interp_layers, config.num_classes
    # Every replica computes the same update from global sums, so the first
    # replica's value is the one to keep.
    state = lambda name, shape, init="zeros": self.add_weight(  # noqa: E731
        name=name, shape=shape, initializer=init, trainable=False,
        aggregation="only_first_replica", autocast=False)
    self.lambda_l = state("lambda_l", (len(config.fc_sizes),), "ones")
    self.lambda_f = state("lambda_f", (n_layers, width))
    self.lambda_f_ready = state("lambda_f_ready", ())
    self.epoch = state("epoch", (), "ones")
    self.rec_grad_norms = state("rec_grad_norms", (n_layers, width))
    self.filter_grad_norms = state("filter_grad_norms", (n_layers, width))
    self.grad_norm_count = state("grad_norm_count", ())
    self.category_sums = state("category_sums", (n_layers, n_classes, width))
    self.category_counts = state("category_counts", (n_classes,))

    if config.objective == "classification":
      self.classifier_kernel = state("classifier_kernel", (config.fc_sizes[-1], n_classes))
      self.classifier_bias = state("classifier_bias", (n_classes,))
      names = ["loss", "classification"]
    else:
      names = ["loss", "reconstruction"] + [f"rec_{n}" for n in config.fc_names]
    names += ["log_p_term", "filter_loss", "p"]
    names += [f"filter_loss_{i + 1}" for i in range(n_layers)]
    self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
    self.build((None,) + config.target_shape)
    if config.interp_init == "identity":
      for conv in self.interp_convs[1:]:
        kernel = np.zeros(conv.kernel.shape, np.float32)
        kernel[1, 1] = np.eye(width, dtype=np.float32)
        conv.kernel.assign(kernel)
        conv.bias.assign(np.zeros(conv.bias.shape, np.float32))

  # ---- structure -----------------------------------------------------------------

  def build(self, input_shape):
    if self.built:
      return
    self._check_input_shape(input_shape)
    self.forward(keras.ops.zeros((1,) + self.config.target_shape), training=False)
    self.built = True

  def _check_input_shape(self, shape):
    got = tuple(shape)[1:]
    if len(shape) != 4 or got != self.config.target_shape:
      raise ValueError(
          f"Explainer built for target maps {self.config.target_shape}, got input shape {tuple(shape)}.")

  def forward(self, maps, training=False, sample_mask=None):
    """The whole forward pass, with the intermediate tensors the loss needs."""
    self._check_input_shape(maps.shape)
    x = maps
    interp_maps, masked = [], []
    for conv, mask in zip(self.interp_convs, self.interp_masks):
      x = tf.nn.relu(conv(x))
      interp_maps.append(x)
      if self.config.mask:
        x = mask(x)
      masked.append(x)
    y = maps
    for conv in self.ordin_convs:
      y = tf.nn.relu(conv(y))
    ordin_map = y
    x_interp = self.pool(self.norm_interp(x, training=training, sample_mask=sample_mask))
    x_ordin = self.pool(self.norm_ordin(y, training=training, sample_mask=sample_mask))
    h = self.flatten(self.gate([x_interp, x_ordin]))
    fc = []
    for dense in self.decoder:
      h = dense(h)
      fc.append(h)
    return {"interp_maps": interp_maps, "masked": masked, "ordin_map": ordin_map, "fc": fc}

  def call(self, maps, training=False):
    out = self.forward(maps, training=training)
    result = {name: tf.cast(v, tf.float32) for name, v in zip(self.config.fc_names, out["fc"])}
    result["part_maps"] = tf.cast(out["masked"][-1], tf.float32)
    result["p"] = self.gate.p
    return result

  @property
  def p(self):
    return self.gate.p

  def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    # Keras' version averages a distributed input batch with strategy.reduce
    # only to build the model symbolically, and that reduce fails under
    # MultiWorkerMirroredStrategy (keras-team/keras#20585). The explainer is
    # built in __init__ and has no compiled loss or metrics: no batch needed.
    if getattr(self, "_distribute_strategy", None) is None:
      return
    with self.distribute_strategy.scope():
      self._symbolic_build(data_batch=None)

  def interpretable_share(self, maps):
    """Per image, the interpretable track's share of the encoder output.

    `sum |p x_interp| / (sum |p x_interp| + sum |(1 - p) x_ordin|)` over the
    pooled, normalised maps: what `p` means for each image.

    Returns:
      float32 `(batch,)`.
    """
    out = self.forward(maps, training=False)
    p = self.gate.p
    x_interp = self.pool(self.norm_interp(out["masked"][-1], training=False))
    x_ordin = self.pool(self.norm_ordin(out["ordin_map"], training=False))
    interp = p * tf.reduce_sum(tf.abs(tf.cast(x_interp, tf.float32)), axis=[1, 2, 3])
    ordin = (1.0 - p) * tf.reduce_sum(tf.abs(tf.cast(x_ordin, tf.float32)), axis=[1, 2, 3])
    return interp / tf.maximum(interp + ordin, 1e-12)

  @property
  def metrics(self):
    return list(self.trackers.values())

  def get_config(self):
    return {"config": self.config.to_dict(), "name": self.name}

  @classmethod
  def from_config(cls, config):
    return cls(**config)

  # ---- state set from data ---------------------------------------------------------

  def set_reconstruction_weights(self, mean_norms):
    """Sets `lambda_l = lambda_l_scale / E||max(x*_l, 0)||` from measured norms."""
    norms = np.asarray(mean_norms, dtype=np.float64)
    if norms.shape != (len(self.config.fc_sizes),) or not np.all(norms > 0):
      raise ValueError(
          f"Need one positive mean norm per fc layer {self.config.fc_names}, got {mean_norms}.")
    self.lambda_l.assign((self.config.lambda_l_scale / norms).astype(np.float32))

  def set_classifier(self, kernel, bias):
    """The performer's classifier, for the `"classification"` objective."""
    if self.config.objective != "classification":
      raise ValueError("set_classifier is for explainers with objective='classification'.")
    self.classifier_kernel.assign(np.asarray(kernel, np.float32))
    self.classifier_bias.assign(np.asarray(bias, np.float32))

  def filter_categories(self):
    """Each interpretable filter's category: the class whose images activate it most.

    With `config.filter_category` set, that class for every filter.

    Returns:
      int32 `(interp_layers, width)`.
    """
    if self.config.filter_category is not None:
      return tf.fill([self.config.interp_layers, self.config.width],
                     tf.constant(self.config.filter_category, tf.int32))
    counts = tf.maximum(self.category_counts, 1.0)[None, :, None]
    return tf.argmax(self.category_sums / counts, axis=1, output_type=tf.int32)

  def update_filter_loss_weights(self, next_epoch):
    """Sets `lambda_f` for epoch `next_epoch` (1-based) from accumulated norms."""
    count = tf.maximum(self.grad_norm_count, 1.0)
    ratio = (self.rec_grad_norms / count) / tf.maximum(self.filter_grad_norms / count, 1e-12)
    new = ratio / (self.config.lambda_f_divisor * float(next_epoch))
    self.lambda_f.assign(tf.where(self.grad_norm_count > 0, new, self.lambda_f))
    self.epoch.assign(float(next_epoch))
    for v in (self.rec_grad_norms, self.filter_grad_norms, self.grad_norm_count):
      v.assign(tf.zeros_like(v))

  # ---- loss and training -------------------------------------------------------------

  def compile(self, optimizer="adam", gate_optimizer=None, **kwargs):
    """Compiles with an optional separate optimizer for the gate's `w_p`.

    Adam moves every weight by about its learning rate per step whatever the
    gradient's scale, so with the small rate the conv and fc weights need,
    `p` would take tens of thousands of steps to leave 0.5. A second optimizer
    with a larger rate for the one scalar `w_p` lets `p` find the balance of
    `-eta log p` and the reconstruction loss within a short run.
    """
    super().compile(optimizer=optimizer, **kwargs)
    self.gate_optimizer = gate_optimizer
    if gate_optimizer is not None:
      # Both built now, each for its own weights: a backup restored before the
      # first step must find the optimizers as the step uses them (built
      # lazily, the main one would be built for w_p too and reject the backup).
      gate_optimizer.build([self.gate.w_p])
      self.optimizer.build([v for v in self.trainable_variables if v is not self.gate.w_p])

  def _update_categories(self, interp_maps, categories):
    one_hot = tf.one_hot(categories, self.config.num_classes)  # (B, K)
    sums = [tf.matmul(one_hot, tf.reduce_sum(tf.cast(x, tf.float32), axis=[1, 2]),
                      transpose_a=True) for x in interp_maps]  # each (K, D)
    self.category_sums.assign_add(replicas.global_sum(tf.stack(sums)))
    self.category_counts.assign_add(replicas.global_sum(tf.reduce_sum(one_hot, axis=0)))

  def compute_losses(self, maps, targets, training=True):
    """All loss terms of one batch; returns `(terms, forward_output)`."""
    config = self.config
    categories = tf.cast(tf.reshape(targets["category"], [-1]), tf.int32)
    out = self.forward(maps, training=training, sample_mask=targets.get("positive"))
    terms = {}
    if config.objective == "classification":
      logits = tf.matmul(tf.cast(out["fc"][-1], tf.float32), self.classifier_kernel)
      logits += self.classifier_bias
      labels = tf.cast(tf.reshape(targets["label"], [-1]), tf.int32)
      ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
      terms["classification"] = config.lambda_l_scale * ce
      terms["data"] = terms["classification"]
    else:
      rec = []
      for i, (name, x) in enumerate(zip(config.fc_names, out["fc"])):
        target = tf.cast(targets[name], tf.float32)
        err = tf.reduce_mean(tf.reduce_sum(tf.square(tf.cast(x, tf.float32) - target), axis=-1))
        terms[f"rec_{name}"] = self.lambda_l[i] * err
        rec.append(terms[f"rec_{name}"])
      terms["reconstruction"] = tf.add_n(rec)
      terms["data"] = terms["reconstruction"]
    p = self.gate.p
    terms["log_p_term"] = -config.eta * tf.math.log(p)
    filter_inputs = list(out["interp_maps"])
    ordin = tf.stop_gradient(tf.cast(out["ordin_map"], tf.float32))
    filter_inputs[-1] = p * tf.cast(filter_inputs[-1], tf.float32) + (1.0 - p) * ordin
    filter_cats = self.filter_categories()
    per_filter = []
    icnn_masks = []
    for i, x in enumerate(filter_inputs):
      kwargs = {}
      if config.gradient == "icnn":  # the masks the forward pass used, from the layer's own map
        icnn_masks.append(self.interp_masks[i].raw_masks(out["interp_maps"][i]))
        kwargs["masks"] = icnn_masks[-1]
      per_filter.append(filter_loss(
          x, self.templates, gradient=config.gradient, image_categories=categories,
          filter_categories=filter_cats[i], **kwargs))
      terms[f"filter_loss_{i + 1}"] = tf.reduce_sum(tf.stop_gradient(self.lambda_f[i]) * per_filter[i])
    terms["filter_loss"] = tf.add_n([terms[f"filter_loss_{i + 1}"] for i in range(len(per_filter))])
    terms["loss"] = terms["data"] + terms["log_p_term"] + terms["filter_loss"]
    terms["p"] = p
    out["filter_inputs"] = filter_inputs
    out["per_filter"] = per_filter
    out["icnn_masks"] = icnn_masks
    out["categories"] = categories
    return terms, out

  def _update_mask_betas(self, out):
    """Moves each filter's mask sharpness a step toward `clip(3 / sigma_bar, 1.5, 3)`."""
    filter_cats = self.filter_categories()
    for i, (layer, maps) in enumerate(zip(self.interp_masks, out["interp_maps"])):
      positive = tf.equal(out["categories"][:, None], filter_cats[i][None, :])
      target = icnn_beta_target(tf.cast(maps, tf.float32), out["icnn_masks"][i], positive,
                                self.config.icnn_centre)
      beta = layer.filter_beta
      beta.assign(beta + self.config.icnn_beta_rate * (target - beta))

  def _filter_norms(self, grads):
    """Per-filter L2 norm of `(B, L, L, D)` gradients, batch-summed: `(D,)`."""
    return tf.reduce_sum(tf.sqrt(tf.reduce_sum(tf.square(tf.cast(grads, tf.float32)), [1, 2])), 0)

  def train_step(self, data):
    maps, targets = data[0], data[1]
    n_replicas = replicas.num_replicas()
    with tf.GradientTape(persistent=True) as tape:
      terms, out = self.compute_losses(maps, targets, training=True)
      # Gradients are summed over replicas. Reconstruction (a per-replica mean)
      # and -eta log p (the same on every replica) are divided by the replica
      # count; the filter loss is already that of the global batch, and each
      # replica contributes the gradient through its own maps only.
      local_rec = terms["data"] / n_replicas
      total = local_rec + terms["log_p_term"] / n_replicas + terms["filter_loss"]
      filter_total = tf.add_n([tf.reduce_sum(v) for v in out["per_filter"]])
      # Under mixed_float16 the main optimizer is a LossScaleOptimizer that
      # divides what it applies by its scale: the loss must be scaled to match
      # (elsewhere scale_loss is the identity). Scaled losses also keep the
      # float16 gradients below from underflowing.
      scale = tf.cast(self.optimizer.scale_loss(tf.constant(1.0)), tf.float32)
      scaled_total = total * scale
      scaled_rec = local_rec * scale
      scaled_filter = filter_total * scale
    weights = self.trainable_variables
    grads = tape.gradient(scaled_total, weights)
    # Gradient norms for the online lambda_f: reconstruction vs filter loss per filter.
    rec_grads = [tf.cast(g, tf.float32) / scale
                 for g in tape.gradient(scaled_rec, out["interp_maps"])]
    fil_grads = [tf.cast(g, tf.float32) / scale
                 for g in tape.gradient(scaled_filter, out["filter_inputs"])]
    del tape
    batch = replicas.global_sum(tf.cast(tf.shape(maps)[0], tf.float32))
    rec_norms = replicas.global_sum(tf.stack([self._filter_norms(g) for g in rec_grads]))
    fil_norms = replicas.global_sum(tf.stack([self._filter_norms(g) for g in fil_grads]))
    self.rec_grad_norms.assign_add(rec_norms)
    self.filter_grad_norms.assign_add(fil_norms)
    self.grad_norm_count.assign_add(batch)
    # Before the first lambda_f exists, take it from this batch (epoch N = 1).
    first = rec_norms / tf.maximum(fil_norms, 1e-12) / self.config.lambda_f_divisor
    ready = self.lambda_f_ready > 0
    self.lambda_f.assign(tf.where(ready, self.lambda_f, first))
    self.lambda_f_ready.assign(1.0)
    self._update_categories(out["interp_maps"], out["categories"])
    if self.config.gradient == "icnn" and self.config.icnn_beta == "adaptive":
      self._update_mask_betas(out)
    gate_optimizer = getattr(self, "gate_optimizer", None)
    if gate_optimizer is None:
      self.optimizer.apply_gradients(zip(grads, weights))
    else:
      w_p = self.gate.w_p
      self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, weights) if v is not w_p])
      # The gate's own optimizer is not loss-scaled: it gets the unscaled
      # gradient (none where the scaled one overflowed, as the main one skips).
      gate = [g / scale for g, v in zip(grads, weights) if v is w_p]
      gate = [tf.where(tf.math.is_finite(g), g, tf.zeros_like(g)) for g in gate]
      gate_optimizer.apply_gradients(zip(gate, [w_p]))
    return self._record(terms)

  def test_step(self, data):
    maps, targets = data[0], data[1]
    terms, _ = self.compute_losses(maps, targets, training=False)
    return self._record(terms)

  def _record(self, terms):
    for name, tracker in self.trackers.items():
      tracker.update_state(terms[name])
    results = {name: tracker.result() for name, tracker in self.trackers.items()}
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
      # Keras reduces logs across workers with reduce("MEAN", v, axis=0), which
      # needs an axis: give every scalar one (the mean of a 1-vector is itself).
      results = {name: tf.reshape(v, [1]) for name, v in results.items()}
    return results

  # ---- initialisation from a performer ------------------------------------------------

  def initialize_from_performer(self, top_conv=None, fc=None):
    """Copies performer weights where the paper does.

    `conv_interp_1` takes the performer's top conv layer, `fc_dec_i` the i-th
    fc layer. Where shapes differ (AlexNet's conv5 has 256 filters against
    D = 384 of relu4), the overlapping block is copied and the rest keeps its
    random initialisation.

    Args:
      top_conv: `(kernel, bias)` of the top conv layer, kernel `(3, 3, in, out)`.
      fc: list of `(kernel, bias)` of fc6, fc7, ...; kernel `(in, out)`. fc6's
        input is the performer's flattened pooled map `(H, W, C_top)`.
    """
    if top_conv is not None:
      _copy_overlap(self.interp_convs[0], *top_conv)
    for i, (dense, weights) in enumerate(zip(self.decoder, fc or [])):
      kernel, bias = weights
      if i == 0:
        pooled = self.pool.compute_output_shape((None,) + self.config.target_shape)[1:]
        kernel = _expand_fc_input(np.asarray(kernel), tuple(pooled))
      _copy_overlap(dense, kernel, bias)


def _expand_fc_input(kernel, pooled_shape):
  """Reshapes fc6's `(H*W*C_top, out)` kernel to `(H*W*C, out)`, zero-padding channels."""
  h, w, c = pooled_shape
  if kernel.shape[0] % (h * w):
    raise ValueError(f"fc6 kernel {kernel.shape} does not fit a pooled map of {pooled_shape}.")
  c_top = kernel.shape[0] // (h * w)
  spatial = kernel.reshape(h, w, c_top, kernel.shape[1])
  full = np.zeros((h, w, c, kernel.shape[1]), kernel.dtype)
  keep = min(c, c_top)
  full[:, :, :keep] = spatial[:, :, :keep]
  return full.reshape(h * w * c, kernel.shape[1])


def _copy_overlap(layer, kernel, bias):
  """Copies the overlapping block of `kernel` and `bias` into a layer's weights."""
  current_k, current_b = [w.numpy() for w in (layer.kernel, layer.bias)]
  kernel, bias = np.asarray(kernel), np.asarray(bias)
  if kernel.ndim != current_k.ndim:
    raise ValueError(f"Cannot copy a kernel of shape {kernel.shape} into {layer.name} {current_k.shape}.")
  region = tuple(slice(0, min(a, b)) for a, b in zip(kernel.shape, current_k.shape))
  current_k[region] = kernel[region]
  n = min(bias.shape[0], current_b.shape[0])
  current_b[:n] = bias[:n]
  layer.kernel.assign(current_k)
  layer.bias.assign(current_b)


class LambdaFUpdate(keras.callbacks.Callback):
  """Updates `lambda_f` at the end of every epoch (the paper's online rule)."""

  def on_epoch_end(self, epoch, logs=None):
    self.model.update_filter_loss_weights(next_epoch=epoch + 2)
    if logs is not None:
      logs["lambda_f_mean"] = float(np.mean(self.model.lambda_f.numpy()))


def build_explainer(config, optimizer=None, **compile_kwargs):
  """Builds and compiles an explainer from an `ExplainerConfig` or dict."""
  if isinstance(config, dict):
    config = ExplainerConfig.from_dict(config)
  model = Explainer(config)
  model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-4), **compile_kwargs)
  return model
