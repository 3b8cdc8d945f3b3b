"""TemplateMask: keeps the neighbourhood of each map's strongest unit."""

import keras
import tensorflow as tf

from tf_explainer import templates as templates_lib

MODES = ("paper", "icnn")


@keras.saving.register_keras_serializable(package="tf_explainer")
class TemplateMask(keras.layers.Layer):
  """Multiplies every map by the clipped template centred on its peak.

  `mode="paper"`: for a post-ReLU map `x_f` of an `L x L` layer, `mu_hat =
  (i, j)` is the argmax unit and

      mask[a, b] = max(1 - beta * (|a - i| + |b - j|) / L, 0)
      output     = x_f * stop_gradient(mask)

  `mode="icnn"`: the reference implementation's mask (SPEC section 1,
  `losses.icnn_masks`): centred on the map's centre of mass (or argmax), in
  coordinates normalised to [-1, 1], with a sharpness per filter held in the
  non-trainable weight `filter_beta` (starting at `beta`; the explainer moves
  it during training). The output is `x_f * max(M, 0)`; `raw_masks` gives `M`
  itself, down to -1, for the filter loss.

  Args:
    beta: fall-off of the mask with L1 distance (`"paper"`: the templates'
      `beta`; `"icnn"`: every filter's starting sharpness).
    mode: `"paper"` or `"icnn"`.
    centre: `"icnn"` only: `"mass"` or `"argmax"`.
    **kwargs: passed on to `keras.layers.Layer`.

  Input: 4D tensor `(batch, L, L, C)`. Output: same shape.
  """

  def __init__(self, beta=templates_lib.DEFAULT_BETA, mode="paper", centre="mass", **kwargs):
    super().__init__(**kwargs)
    if mode not in MODES:
      raise ValueError(f"TemplateMask mode must be one of {MODES}, got {mode!r}.")
    if centre not in templates_lib.CENTRES:
      raise ValueError(
        f"TemplateMask centre must be one of {templates_lib.CENTRES}, got {centre!r}."
      )
    self.beta = float(beta)
    self.mode = mode
    self.centre = centre
    self.supports_masking = False

  def build(self, input_shape):
    if len(input_shape) != 4 or input_shape[1] is None or input_shape[1] != input_shape[2]:
      raise ValueError(
        f"TemplateMask expects square maps (batch, L, L, C), got shape {tuple(input_shape)}."
      )
    self.size = int(input_shape[1])
    if self.mode == "icnn":
      self.filter_beta = self.add_weight(
        name="filter_beta",
        shape=(int(input_shape[-1]),),
        initializer=keras.initializers.Constant(self.beta),
        trainable=False,
        aggregation="only_first_replica",
        autocast=False,
      )
    else:
      # Row k holds the mask centred on unit k, flattened: (L*L, L*L).
      self._masks = tf.constant(
        templates_lib.mask_templates(self.size, self.beta).reshape(self.size**2, self.size**2)
      )
    super().build(input_shape)

  def peak_indices(self, x):
    """Row-major index of each map's strongest unit, int32 `(batch, C)`."""
    flat = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [tf.shape(x)[0], x.shape[-1], -1])
    return tf.argmax(flat, axis=-1, output_type=tf.int32)

  def raw_masks(self, x):
    """`"icnn"` only: the masks `M` of `x`, `(batch, L, L, C)` in [-1, 1], float32."""
    x = tf.stop_gradient(tf.cast(x, tf.float32))
    return templates_lib.icnn_masks(x, tf.convert_to_tensor(self.filter_beta), self.centre)

  def call(self, x):
    if self.mode == "icnn":
      masks = tf.maximum(self.raw_masks(x), 0.0)
    else:
      peaks = self.peak_indices(x)
      masks = tf.gather(self._masks, peaks)  # (B, C, L*L)
      masks = tf.reshape(tf.transpose(masks, [0, 2, 1]), tf.shape(x))
    return x * tf.stop_gradient(tf.cast(masks, x.dtype))

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update({"beta": self.beta, "mode": self.mode, "centre": self.centre})
    return config
