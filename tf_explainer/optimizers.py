"""Adam with TensorFlow's fused update kernel.

Keras's `Adam.update_step` is a dozen element-wise ops per variable (`m`, `v`
and the weight each read and written several times). At the paper's sizes the
explainer's first decoder layer alone holds 103 M weights (7 x 7 x 512 -> 4096),
and a profile of the VGG-16 step (`benchmarks/profile_step.py`) put those ops at
about a third of the step's op time. `FusedAdam` makes the same update with
`ResourceApplyAdam`, one multi-threaded pass per variable, and the same
formula:

    m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2)
    w -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) + epsilon)
"""

import keras
import tensorflow as tf


def _tf_variable(variable):
  return variable.value if isinstance(variable, keras.Variable) else variable


@keras.saving.register_keras_serializable(package="tf_explainer")
class FusedAdam(keras.optimizers.Adam):
  """`keras.optimizers.Adam` whose dense update is the fused `ResourceApplyAdam` kernel.

  Same arguments, state and results as `keras.optimizers.Adam` (checkpoints of
  either restore into the other). Falls back to Keras's update for `amsgrad`,
  sparse gradients and under a multi-replica strategy.
  """

  def update_step(self, gradient, variable, learning_rate):
    variable = _tf_variable(variable)
    fused = (
      not self.amsgrad
      and not isinstance(gradient, tf.IndexedSlices)
      and tf.distribute.get_strategy().num_replicas_in_sync == 1
      and isinstance(variable, tf.Variable)
      and hasattr(variable, "handle")
    )
    if not fused:
      return super().update_step(gradient, variable, learning_rate)
    dtype = variable.dtype
    index = self._get_variable_index(variable)
    m = _tf_variable(self._momentums[index])
    v = _tf_variable(self._velocities[index])
    step = tf.cast(self.iterations + 1, dtype)
    beta_1 = tf.cast(self.beta_1, dtype)
    beta_2 = tf.cast(self.beta_2, dtype)
    tf.raw_ops.ResourceApplyAdam(
      var=variable.handle,
      m=m.handle,
      v=v.handle,
      beta1_power=tf.pow(beta_1, step),
      beta2_power=tf.pow(beta_2, step),
      lr=tf.cast(learning_rate, dtype),
      beta1=beta_1,
      beta2=beta_2,
      epsilon=tf.cast(self.epsilon, dtype),
      grad=tf.cast(gradient, dtype),
      use_locking=False,
    )
