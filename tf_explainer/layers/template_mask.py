"""TemplateMask: keeps the neighbourhood of each map's strongest unit."""

import keras
import tensorflow as tf

from tf_explainer import templates as templates_lib


@keras.saving.register_keras_serializable(package="tf_explainer")
class TemplateMask(keras.layers.Layer):
  """Multiplies every map by the clipped template centred on its peak.

  For a post-ReLU map `x_f` of an `L x L` layer, `mu_hat = (i, j)` is the argmax
  unit and

      mask[a, b] = max(1 - beta * (|a - i| + |b - j|) / L, 0)
      output     = x_f * stop_gradient(mask)

  Args:
    beta: fall-off of the mask with L1 distance (the templates' `beta`).
    **kwargs: passed on to `keras.layers.Layer`.

  Input: 4D tensor `(batch, L, L, C)`. Output: same shape.
  """

  def __init__(self, beta=templates_lib.DEFAULT_BETA, **kwargs):
    super().__init__(**kwargs)
    self.beta = float(beta)
    self.supports_masking = False

  def build(self, input_shape):
    if len(input_shape) != 4 or input_shape[1] is None or input_shape[1] != input_shape[2]:
      raise ValueError(
          f"TemplateMask expects square maps (batch, L, L, C), got shape {tuple(input_shape)}.")
    self.size = int(input_shape[1])
    # Row k holds the mask centred on unit k, flattened: (L*L, L*L).
    self._masks = tf.constant(
        templates_lib.mask_templates(self.size, self.beta).reshape(self.size**2, self.size**2))
    super().build(input_shape)

  def peak_indices(self, x):
    """Row-major index of each map's strongest unit, int32 `(batch, C)`."""
    flat = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [tf.shape(x)[0], x.shape[-1], -1])
    return tf.argmax(flat, axis=-1, output_type=tf.int32)

  def call(self, x):
    peaks = self.peak_indices(x)
    masks = tf.gather(self._masks, peaks)  # (B, C, L*L)
    masks = tf.reshape(tf.transpose(masks, [0, 2, 1]), tf.shape(x))
    return x * tf.stop_gradient(tf.cast(masks, x.dtype))

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update({"beta": self.beta})
    return config
