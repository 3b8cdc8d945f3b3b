"""SigmoidGate: the learned mix of the interpretable and ordinary tracks."""

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tf_explainer")
class SigmoidGate(keras.layers.Layer):
  """`x_enc = p * x_interp + (1 - p) * x_ordin` with `p = sigmoid(w_p)`.

  `p` is the share of the interpretable track in the encoder's output.

  Args:
    initial_p: value of `p` before training, in (0, 1).
    **kwargs: passed on to `keras.layers.Layer`.

  Input: a list `[x_interp, x_ordin]` of tensors of one shape. Output: that shape.
  """

  def __init__(self, initial_p=0.5, **kwargs):
    super().__init__(**kwargs)
    if not 0.0 < float(initial_p) < 1.0:
      raise ValueError(f"SigmoidGate initial_p must lie in (0, 1), got {initial_p}.")
    self.initial_p = float(initial_p)

  def build(self, input_shape):
    if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
      raise ValueError("SigmoidGate takes a list [x_interp, x_ordin].")
    if tuple(input_shape[0]) != tuple(input_shape[1]):
      raise ValueError(
        f"SigmoidGate inputs differ in shape: {tuple(input_shape[0])} vs {tuple(input_shape[1])}."
      )
    logit = math.log(self.initial_p / (1.0 - self.initial_p))
    self.w_p = self.add_weight(
      name="w_p",
      shape=(),
      initializer=keras.initializers.Constant(logit),
      trainable=True,
      autocast=False,
    )
    super().build(input_shape)

  @property
  def p(self):
    """The current gate value `sigmoid(w_p)`, a float32 scalar tensor."""
    return tf.sigmoid(tf.cast(self.w_p, tf.float32))

  def call(self, inputs):
    x_interp, x_ordin = inputs
    p = tf.cast(self.p, x_interp.dtype)
    return p * x_interp + (1.0 - p) * x_ordin

  def compute_output_shape(self, input_shape):
    return input_shape[0]

  def get_config(self):
    config = super().get_config()
    config.update({"initial_p": self.initial_p})
    return config
