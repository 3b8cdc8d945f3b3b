"""Tests for tf_explainer.layers.TemplateMask."""

import keras
import numpy as np
import tensorflow as tf

from tests.layers import layer_test_util
from tf_explainer.layers import TemplateMask


class TemplateMaskTest(tf.test.TestCase):
  def test_keeps_peak_and_zeroes_far_units(self):
    """L = 8, beta = 4: mask = max(1 - (|a - i| + |b - j|) / 2, 0) around the peak."""
    x = np.ones((1, 8, 8, 1), np.float32)
    x[0, 3, 5, 0] = 10.0
    y = TemplateMask()(x).numpy()[0, :, :, 0]
    self.assertEqual(y[3, 5], 10.0)
    self.assertAllClose([y[3, 4], y[2, 5], y[3, 6], y[4, 5]], [0.5] * 4)
    self.assertEqual(np.count_nonzero(y), 5)
    self.assertEqual(y[0, 0], 0.0)

  def test_per_image_and_filter(self):
    x = np.zeros((2, 6, 6, 2), np.float32)
    x[0, 0, 0, 0] = x[0, 5, 5, 1] = x[1, 2, 3, 0] = x[1, 4, 1, 1] = 3.0
    x += 0.01
    y = TemplateMask()(x).numpy()
    for b, c, (i, j) in [(0, 0, (0, 0)), (0, 1, (5, 5)), (1, 0, (2, 3)), (1, 1, (4, 1))]:
      self.assertEqual(np.unravel_index(np.argmax(y[b, :, :, c]), (6, 6)), (i, j))
      self.assertEqual(y[b, (i + 3) % 6, (j + 3) % 6, c], 0.0)

  def test_mask_is_constant_for_gradients(self):
    x = tf.constant(np.random.default_rng(0).random((2, 6, 6, 3)), tf.float32)
    layer = TemplateMask()
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x)
      total = tf.reduce_sum(y)
    grad = tape.gradient(total, x)
    self.assertAllClose(grad, y / x)  # d(x * m)/dx = m with m held fixed

  def test_config_and_round_trip(self):
    layer = TemplateMask(beta=3.0, name="m")
    layer_test_util.assert_config_holds_init_args(self, layer)
    inputs = keras.Input((6, 6, 4))
    model = keras.Model(inputs, TemplateMask(beta=3.0)(inputs))
    data = np.random.default_rng(1).random((2, 6, 6, 4)).astype(np.float32)
    layer_test_util.assert_keras_round_trip(self, model, data)

  def test_icnn_mode_uses_the_reference_mask_with_a_beta_per_filter(self):
    """L = 3, P = (-1, 0, 1), a map with mass at (0, 0) only, beta 2: M = 1 at (0, 0), -1 beyond.

    With beta 0.5 instead, the unit next to it has M = 1 - 0.5 * 1 = 0.5.
    """
    x = np.zeros((1, 3, 3, 2), np.float32)
    x[0, :, :, :] = 0.25
    x[0, 0, 0, :] = 9.0  # centre of mass rounds to (0, 0) for both filters
    layer = TemplateMask(beta=2.0, mode="icnn")
    y = layer(x).numpy()
    self.assertAllClose(layer.filter_beta, [2.0, 2.0])
    self.assertEqual(np.count_nonzero(y[0, :, :, 0]), 1)
    layer.filter_beta.assign([2.0, 0.5])
    y = layer(x).numpy()
    self.assertAllClose(y[0, 0, 1, 1], 0.25 * 0.5)
    self.assertEqual(y[0, 0, 1, 0], 0.0)
    raw = layer.raw_masks(x).numpy()
    self.assertEqual(raw.min(), -1.0)
    self.assertAllClose(y, x * np.maximum(raw, 0))

  def test_icnn_config_and_round_trip(self):
    layer = TemplateMask(beta=2.0, mode="icnn", centre="argmax", name="m")
    layer_test_util.assert_config_holds_init_args(self, layer)
    inputs = keras.Input((5, 5, 3))
    model = keras.Model(inputs, TemplateMask(beta=2.0, mode="icnn")(inputs))
    model.layers[-1].filter_beta.assign([1.5, 2.5, 3.0])
    data = np.random.default_rng(1).random((2, 5, 5, 3)).astype(np.float32)
    layer_test_util.assert_keras_round_trip(self, model, data)
    with self.assertRaisesRegex(ValueError, "mode must be one of"):
      TemplateMask(mode="reference")

  def test_non_square_input(self):
    with self.assertRaisesRegex(ValueError, r"square.*\(None, 6, 5, 2\)"):
      TemplateMask().build((None, 6, 5, 2))


if __name__ == "__main__":
  tf.test.main()
