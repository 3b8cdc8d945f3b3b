"""Tests for tf_explainer.optimizers."""

from unittest import mock

import keras
import numpy as np
import tensorflow as tf

from tf_explainer.optimizers import FusedAdam


def _train(optimizer, steps=5):
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.Dense(3)])
  model.compile(optimizer=optimizer, loss="mse")
  rng = np.random.default_rng(0)
  x, y = rng.random((16, 6)).astype(np.float32), rng.random((16, 3)).astype(np.float32)
  model.fit(x, y, batch_size=4, epochs=steps, verbose=0, shuffle=False)
  return model.get_weights(), optimizer


class FusedAdamTest(tf.test.TestCase):
  def test_same_updates_as_keras_adam(self):
    reference, adam = _train(keras.optimizers.Adam(1e-2))
    kernel = tf.raw_ops.ResourceApplyAdam
    with mock.patch.object(tf.raw_ops, "ResourceApplyAdam", wraps=kernel) as fused_kernel:
      fused, fused_opt = _train(FusedAdam(1e-2))
    self.assertGreaterEqual(fused_kernel.call_count, 4)  # traced once per variable
    # The same formula; float32 rounding differs in the last digits over 20 steps.
    for a, b in zip(reference, fused):
      self.assertAllClose(a, b, rtol=1e-4, atol=1e-5)
    for a, b in zip(adam.variables, fused_opt.variables):  # iterations, m and v
      self.assertAllClose(a, b, rtol=1e-4, atol=1e-5)

  def test_amsgrad_falls_back_to_keras(self):
    reference, _ = _train(keras.optimizers.Adam(1e-2, amsgrad=True))
    fused, _ = _train(FusedAdam(1e-2, amsgrad=True))
    for a, b in zip(reference, fused):
      self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)

  def test_config_round_trip(self):
    optimizer = FusedAdam(3e-4, beta_1=0.8)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    self.assertIsInstance(again, FusedAdam)
    self.assertAllClose(again.learning_rate, 3e-4)
    self.assertAllClose(again.beta_1, 0.8)


if __name__ == "__main__":
  tf.test.main()
