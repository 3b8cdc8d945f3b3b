"""Tests for tf_explainer.layers.NormLayer."""

import keras
import numpy as np
import tensorflow as tf

from tests.layers import layer_test_util
from tf_explainer.layers import NormLayer


class NormLayerTest(tf.test.TestCase):
  def test_first_batch_sets_alpha_then_momentum(self):
    """alpha_k = mean over images of sum_ab max(x, 0).

    Batch 1: every unit of channel 0 is 1 on a 2 x 2 map -> alpha_0 = 4;
    channel 1 is -1 everywhere -> alpha_1 = 0 (ReLU). Batch 2 doubles channel 0
    -> alpha_0 = 0.5 * 4 + 0.5 * 8 = 6 with momentum 0.5.
    """
    layer = NormLayer(momentum=0.5)
    x = np.zeros((2, 2, 2, 2), np.float32)
    x[..., 0] = 1.0
    x[..., 1] = -1.0
    layer(x, training=True)
    self.assertAllClose(layer.alpha, [4.0, 0.0])
    layer(2 * x, training=True)
    self.assertAllClose(layer.alpha, [6.0, 0.0])
    y = layer(x, training=False)
    self.assertAllClose(y[..., 0], np.full((2, 2, 2), 1.0 / 6.0))

  def test_statistics_move_only_in_training(self):
    layer = NormLayer()
    x = np.random.default_rng(0).random((4, 3, 3, 5)).astype(np.float32)
    layer(x, training=False)
    self.assertAllClose(layer.alpha, np.ones(5))
    layer(x, training=True)
    after_training = layer.alpha.numpy().copy()
    self.assertNotAllClose(after_training, np.ones(5))
    layer(10 * x, training=False)
    self.assertAllClose(layer.alpha, after_training)

  def test_sample_mask_selects_images(self):
    layer = NormLayer()
    x = np.zeros((2, 2, 2, 1), np.float32)
    x[0] = 1.0
    x[1] = 5.0
    layer(x, training=True, sample_mask=np.array([True, False]))
    self.assertAllClose(layer.alpha, [4.0])
    layer(x, training=True, sample_mask=np.array([False, False]))  # no positives: unchanged
    self.assertAllClose(layer.alpha, [4.0])

  def test_config_and_round_trip(self):
    layer = NormLayer(momentum=0.9, epsilon=1e-2)
    layer_test_util.assert_config_holds_init_args(self, layer)
    inputs = keras.Input((3, 3, 2))
    model = keras.Model(inputs, NormLayer()(inputs))
    data = np.random.default_rng(1).random((2, 3, 3, 2)).astype(np.float32)
    model.layers[-1](data, training=True)  # non-trivial alpha to save
    layer_test_util.assert_keras_round_trip(self, model, data)

  def test_bad_momentum(self):
    with self.assertRaisesRegex(ValueError, "momentum"):
      NormLayer(momentum=1.0)


if __name__ == "__main__":
  tf.test.main()
