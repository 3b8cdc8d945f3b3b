"""The explainer network: layers and the forward pass, nothing about training.

Structure (SPEC section 1):

    target map (L, L, D)
      interpretable track: [conv 3x3 -> ReLU -> TemplateMask] x n -> NormLayer -> pool
      ordinary track:      [conv 3x3 -> ReLU] x m                 -> NormLayer -> pool
      SigmoidGate:         x_enc = p * x_interp + (1 - p) * x_ordin
      decoder:             flatten -> [dense -> ReLU] per reconstructed fc layer

The loss terms are pure functions in `tf_explainer.losses.objective`; the
training state, `train_step` and the `lambda_f` rule are in
`tf_explainer.train.trainer`. A saved or exported explainer is this network
alone.
"""

import dataclasses
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tf_explainer import io_utils
from tf_explainer import templates as templates_lib
from tf_explainer.layers import NormLayer, SigmoidGate, TemplateMask
from tf_explainer.losses.filter_loss import CENTRES, GRADIENTS

from tf_explainer.configs import (  # noqa: F401 (this module's names)
  DECODER_INITS,
  DECODER_INPUTS,
  ICNN_BETAS,
  INTERP_INITS,
  NORM_IMAGES,
  OBJECTIVES,
)

# What configs saved before the loss moved to the trainer (configs.LossSettings) also held.
LEGACY_LOSS_KEYS = (
  "eta",
  "lambda_l_scale",
  "lambda_f_divisor",
  "icnn_beta",
  "icnn_beta_rate",
  "objective",
  "overlap_weight",
)
ICNN_START_BETA = 2.0  # the reference implementation's starting mask sharpness
PAPER_ETA = {"alexnet": 1e6, "vgg_m": 1e6, "vgg_s": 1e6, "vgg16": 1.5e5}


@dataclasses.dataclass
class ExplainerConfig:
  """The explainer network: its shape, starting point and mask, without its loss.

  The loss (eta, lambda_l, lambda_f, the overlap weight, the objective) is the trainer's
  (`configs.LossSettings`, `train.trainer.ExplainerTrainer`); configs saved before the split
  held it too, and `from_dict` leaves those keys out (`LEGACY_LOSS_KEYS`).

  Attributes:
    target_shape: `(L, L, D)` of the performer's target layer.
    fc_sizes: widths of the reconstructed fc layers, e.g. `(4096, 4096)`.
    fc_names: names of those layers, from the performer's spec
      (`PerformerSpec.fc_names`); the targets and outputs use them.
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
    initial_p: `p` before training.
    gradient: the filter-loss gradient the network is trained with; `"icnn"` (the
      reference implementation's, SPEC section 1) gives the interpretable layers the
      reference's mask, the others the paper's.
    icnn_centre: `"icnn"`: each map's centre, `"mass"` or `"argmax"`.
    interp_init: how the interpretable conv layers after the first start:
      `"random"` (the paper), or `"identity"` (centre tap the identity, zero
      bias), so that at the start the part maps are the first layer's masked
      maps (a copy of the performer's top conv) and the decoder, copied from
      the performer's fc layers, reads what it was trained on.
    mask: apply the interpretable layers' masks in the forward pass (`False`
      is the ablation without them; the filter loss is unchanged).
    norm_momentum: momentum of the NormLayer statistics.
    decoder_input: what the decoder reads of each track: `"pooled"` (the
      performer's last pooling of the normalised maps, as the paper) or
      `"global_max"` (each map's maximum, wherever it is: an ablation, whose
      first decoder kernel starts as the performer's summed over positions).
    norm_images: which images' maps update the NormLayer statistics in training:
      `"positives"` (the `sample_mask` the trainer passes: a single-category performer's
      positives) or `"all"` (every image; an ablation).
    decoder_init: how the first decoder layer starts: `"copy"` (the performer's
      first fc layer as it is) or `"rescaled"` (`start_decoder` multiplies each input
      row by its channel's NormLayer statistic, so that the decoder reads the
      normalised maps on the scale the performer's fc layer was trained on).
  """

  target_shape: Sequence[int]
  fc_sizes: Sequence[int]
  fc_names: Sequence[str]
  num_classes: int = 2
  filter_category: Optional[int] = None
  interp_layers: int = 2
  ordin_layers: int = 1
  filters: Optional[int] = None
  pool: Optional[dict] = None
  beta: float = templates_lib.DEFAULT_BETA
  initial_p: float = 0.5
  gradient: str = "approx"
  icnn_centre: str = "mass"
  mask: bool = True
  interp_init: str = "random"
  norm_momentum: float = 0.99
  decoder_input: str = "pooled"
  norm_images: str = "positives"
  decoder_init: str = "copy"

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
    if self.interp_init not in INTERP_INITS:
      raise ValueError(f"interp_init must be one of {INTERP_INITS}, got {self.interp_init!r}.")
    if self.norm_images not in NORM_IMAGES:
      raise ValueError(f"norm_images must be one of {NORM_IMAGES}, got {self.norm_images!r}.")
    if self.decoder_init not in DECODER_INITS:
      raise ValueError(f"decoder_init must be one of {DECODER_INITS}, got {self.decoder_init!r}.")
    if self.decoder_input not in DECODER_INPUTS:
      raise ValueError(
        f"decoder_input must be one of {DECODER_INPUTS}, got {self.decoder_input!r}."
      )
    if self.num_classes < 1:
      raise ValueError(f"num_classes must be positive, got {self.num_classes}.")
    if self.filter_category is not None and not 0 <= self.filter_category < self.num_classes:
      raise ValueError(
        f"filter_category must be in [0, {self.num_classes}) or None, got {self.filter_category}."
      )
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
    """The config of `to_dict`, or of a config saved before the loss moved to the trainer."""
    values = {k: v for k, v in values.items() if k not in LEGACY_LOSS_KEYS}
    return io_utils.dataclass_from_dict(cls, values, "ExplainerConfig")

  @staticmethod
  def legacy_loss(values):
    """The loss settings a config saved before the split holds (`{}` for a newer one)."""
    return {k: v for k, v in values.items() if k in LEGACY_LOSS_KEYS}


def _conv(name, filters):
  return keras.layers.Conv2D(filters, 3, padding="same", use_bias=True, name=name)


@keras.saving.register_keras_serializable(package="tf_explainer")
class Explainer(keras.Model):
  """The explainer network.

  Call it on target maps `(batch, L, L, D)`; it returns a dict with one entry
  per reconstructed fc layer (post-ReLU, under `config.fc_names`),
  `part_maps` (the last interpretable layer after ReLU and mask) and `p`.
  `forward` returns every intermediate map the objective and the evaluation
  read. It holds no training state: train it with
  `tf_explainer.train.trainer.ExplainerTrainer`.
  """

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    if isinstance(config, dict):
      config = ExplainerConfig.from_dict(config)
    self.config = config
    width = config.width
    self.interp_convs = [_conv(f"conv_interp_{i + 1}", width) for i in range(config.interp_layers)]
    if config.gradient == "icnn":
      self.interp_masks = [
        TemplateMask(
          ICNN_START_BETA, mode="icnn", centre=config.icnn_centre, name=f"mask_interp_{i + 1}"
        )
        for i in range(config.interp_layers)
      ]
    else:
      self.interp_masks = [
        TemplateMask(config.beta, name=f"mask_interp_{i + 1}") for i in range(config.interp_layers)
      ]
    self.ordin_convs = [
      _conv("conv_ordin" if config.ordin_layers == 1 else f"conv_ordin_{i + 1}", width)
      for i in range(config.ordin_layers)
    ]
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
      for i, units in enumerate(config.fc_sizes)
    ]
    self.build((None,) + config.target_shape)
    if config.interp_init == "identity":
      for conv in self.interp_convs[1:]:
        kernel = np.zeros(conv.kernel.shape, np.float32)
        kernel[1, 1] = np.eye(width, dtype=np.float32)
        conv.kernel.assign(kernel)
        conv.bias.assign(np.zeros(conv.bias.shape, np.float32))

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
        f"Explainer built for target maps {self.config.target_shape}, "
        f"got input shape {tuple(shape)}."
      )

  def forward(self, maps, training=False, sample_mask=None):
    """The forward pass with its intermediate tensors.

    Returns:
      dict: `interp_logits`, `interp_maps` and `masked` (`interpretable_track`),
      `ordin_map`, `x_interp` and `x_ordin` (the two tracks normalised and
      pooled, before the gate), `fc` (the decoder's outputs) and `p`.
    """
    self._check_input_shape(maps.shape)
    track = self.interpretable_track(maps)
    x = track["masked"][-1]
    y = maps
    for conv in self.ordin_convs:
      y = tf.nn.relu(conv(y))
    if self.config.norm_images == "all":
      sample_mask = None
    x_interp = self._decoder_input(self.norm_interp(x, training=training, sample_mask=sample_mask))
    x_ordin = self._decoder_input(self.norm_ordin(y, training=training, sample_mask=sample_mask))
    h = self.flatten(self.gate([x_interp, x_ordin]))
    fc = []
    for dense in self.decoder:
      h = dense(h)
      fc.append(h)
    return {
      **track,
      "ordin_map": y,
      "x_interp": x_interp,
      "x_ordin": x_ordin,
      "fc": fc,
      "p": self.gate.p,
    }

  def interpretable_track(self, maps):
    """The interpretable layers alone: dict of `interp_logits` (each layer's conv output,
    before its ReLU), `interp_maps` (after it) and `masked` (after its mask)."""
    x = maps
    track = {"interp_logits": [], "interp_maps": [], "masked": []}
    for conv, mask in zip(self.interp_convs, self.interp_masks):
      z = conv(x)
      x = tf.nn.relu(z)
      track["interp_logits"].append(z)
      track["interp_maps"].append(x)
      if self.config.mask:
        x = mask(x)
      track["masked"].append(x)
    return track

  def _decoder_input(self, x):
    if self.config.decoder_input == "global_max":  # where a filter fires no longer matters
      return tf.reduce_max(x, axis=[1, 2], keepdims=True)
    return self.pool(x)

  def call(self, maps, training=False):
    return self.outputs_of(self.forward(maps, training=training))

  def outputs_of(self, out):
    """The public outputs (`call`'s dict) from a `forward` result."""
    result = {name: tf.cast(v, tf.float32) for name, v in zip(self.config.fc_names, out["fc"])}
    result["part_maps"] = tf.cast(out["masked"][-1], tf.float32)
    result["p"] = self.gate.p
    return result

  @property
  def p(self):
    return self.gate.p

  def get_config(self):
    return {
      "config": self.config.to_dict(),
      "name": self.name,
      "dtype": keras.dtype_policies.serialize(self.dtype_policy),
    }

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    if isinstance(config.get("dtype"), dict):
      config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
    return cls(**config)

  def initialize_from_performer(self, top_conv=None, fc=None):
    """Copies performer weights where the paper does.

    `conv_interp_1` takes the performer's top conv layer, `fc_dec_i` the
    performer's i-th reconstructed fc layer. Where shapes differ (AlexNet's
    conv5 has 256 filters against D = 384 of relu4), the overlapping block is
    copied and the rest keeps its random initialisation.

    Args:
      top_conv: `(kernel, bias)` of the top conv layer, kernel `(3, 3, in, out)`.
      fc: list of `(kernel, bias)` of the reconstructed fc layers; kernel
        `(in, out)`. The first one's input is the performer's flattened
        pooled map `(H, W, C_top)`.
    """
    if top_conv is not None:
      _copy_overlap(self.interp_convs[0], *top_conv)
    for i, (dense, weights) in enumerate(zip(self.decoder, fc or [])):
      kernel, bias = weights
      if i == 0:
        pooled = self.pool.compute_output_shape((None,) + self.config.target_shape)[1:]
        kernel = _expand_fc_input(np.asarray(kernel), tuple(pooled))
        if self.config.decoder_input == "global_max":  # a feature read once, wherever it is
          h, w, c = pooled
          kernel = kernel.reshape(h, w, c, -1).sum(axis=(0, 1))
      _copy_overlap(dense, kernel, bias)

  def start_decoder(self, batches):
    """With `decoder_init="rescaled"`, starts the decoder on the performer's scale.

    The NormLayers start at their statistics over `batches` (where training would
    take them from the first batch) and each input row of the first decoder layer
    is multiplied by its channel's interpretable statistic. With one interpretable
    layer copied from the performer's top conv, no mask and p = 1, the decoder then
    computes the performer's fc layers exactly. With `"copy"` nothing changes.

    Args:
      batches: iterable of `(maps, sample_mask)`: target maps and the images whose
        statistics count (`None`: all), as in training.
    """
    if self.config.decoder_init != "rescaled":
      return
    norms = (self.norm_interp, self.norm_ordin)
    totals, count = [0.0, 0.0], 0.0
    for maps, sample_mask in batches:
      if self.config.norm_images == "all":
        sample_mask = None
      out = self.forward(maps, training=False)
      for i, (norm, x) in enumerate(zip(norms, (out["masked"][-1], out["ordin_map"]))):
        mean, n = norm.batch_statistics(x, sample_mask)
        totals[i] = totals[i] + mean.numpy() * float(n)
      count += float(n)
    if count == 0:
      raise ValueError("decoder_init=rescaled: no image to measure the NormLayer statistics on.")
    for norm, total in zip(norms, totals):
      norm.alpha.assign(total / count)
      norm.num_updates.assign(1.0)  # training goes on from here, as after a first batch
    scale = np.maximum(self.norm_interp.alpha.numpy(), self.norm_interp.epsilon)
    dense = self.decoder[0]
    kernel = dense.kernel.numpy()
    rows = kernel.reshape(-1, scale.shape[0], kernel.shape[-1]) * scale[None, :, None]
    dense.kernel.assign(rows.reshape(kernel.shape))


def _expand_fc_input(kernel, pooled_shape):
  """Reshapes the first fc kernel `(H*W*C_top, out)` to `(H*W*C, out)`, zero-padding channels."""
  h, w, c = pooled_shape
  if kernel.shape[0] % (h * w):
    raise ValueError(
      f"The first fc kernel {kernel.shape} does not fit a pooled map of {pooled_shape}."
    )
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
    raise ValueError(
      f"Cannot copy a kernel of shape {kernel.shape} into {layer.name} {current_k.shape}."
    )
  region = tuple(slice(0, min(a, b)) for a, b in zip(kernel.shape, current_k.shape))
  current_k[region] = kernel[region]
  n = min(bias.shape[0], current_b.shape[0])
  current_b[:n] = bias[:n]
  layer.kernel.assign(current_k)
  layer.bias.assign(current_b)
