"""NormLayer: divides each channel by its mean total activation."""

import keras
import tensorflow as tf

from tf_explainer import replicas


@keras.saving.register_keras_serializable(package="tf_explainer")
class NormLayer(keras.layers.Layer):
  """`x_hat[..., k] = x[..., k] / alpha_k`.

  `alpha_k` is a running mean over images of `sum_ab max(x[a, b, k], 0)`, kept
  like batch-norm moving statistics: a non-trainable weight, updated in
  training (`alpha <- momentum * alpha + (1 - momentum) * batch_mean`; the
  first training batch sets it directly), frozen at inference. The division
  always uses the running value, so training and inference agree.

  Args:
    momentum: momentum of the running mean.
    epsilon: floor of `alpha`, against division by zero for dead channels.
    **kwargs: passed on to `keras.layers.Layer`.

  Call args:
    x: 4D tensor `(batch, L, L, C)`.
    training: update `alpha` when true.
    sample_mask: optional `(batch,)` bool or 0/1 tensor: only these images
      update `alpha` (the positives of a single-category performer). A batch
      with no selected image leaves `alpha` as it was.
  """

  def __init__(self, momentum=0.99, epsilon=1e-3, **kwargs):
    super().__init__(**kwargs)
    if not 0.0 <= float(momentum) < 1.0:
      raise ValueError(f"NormLayer momentum must lie in [0, 1), got {momentum}.")
    self.momentum = float(momentum)
    self.epsilon = float(epsilon)

  def build(self, input_shape):
    if len(input_shape) != 4 or input_shape[-1] is None:
      raise ValueError(
        f"NormLayer expects (batch, L, L, C) with known C, got {tuple(input_shape)}."
      )
    channels = int(input_shape[-1])
    self.alpha = self.add_weight(
      name="alpha",
      shape=(channels,),
      initializer="ones",
      trainable=False,
      aggregation="only_first_replica",
      autocast=False,
    )
    self.num_updates = self.add_weight(
      name="num_updates",
      shape=(),
      initializer="zeros",
      trainable=False,
      aggregation="only_first_replica",
      autocast=False,
    )
    super().build(input_shape)

  def batch_statistics(self, x, sample_mask=None):
    """Mean over (selected) images of `sum_ab max(x, 0)`, and their count."""
    totals = tf.reduce_sum(tf.nn.relu(tf.cast(x, tf.float32)), axis=[1, 2])  # (B, C)
    if sample_mask is None:
      weights = tf.ones_like(totals[:, 0])
    else:
      weights = tf.cast(tf.reshape(sample_mask, [-1]), tf.float32)
    # Sums over the global batch under a multi-replica strategy.
    count = replicas.global_sum(tf.reduce_sum(weights))
    total = replicas.global_sum(tf.reduce_sum(totals * weights[:, None], axis=0))
    mean = total / tf.maximum(count, 1.0)
    return mean, count

  def update_statistics(self, x, sample_mask=None):
    mean, count = self.batch_statistics(x, sample_mask)
    momentum = tf.where(self.num_updates > 0, self.momentum, 0.0)
    updated = momentum * self.alpha + (1.0 - momentum) * mean
    self.alpha.assign(tf.where(count > 0, updated, self.alpha))
    self.num_updates.assign_add(tf.cast(count > 0, tf.float32))

  def call(self, x, training=False, sample_mask=None):
    if training:
      self.update_statistics(x, sample_mask)
    alpha = tf.maximum(self.alpha, self.epsilon)
    return x / tf.cast(alpha, x.dtype)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update({"momentum": self.momentum, "epsilon": self.epsilon})
    return config
