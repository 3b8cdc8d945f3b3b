"""Tests for tf_explainer.metrics.unit_mapping."""

import keras
import numpy as np
import tensorflow as tf

from tf_explainer import performers
from tf_explainer.metrics import unit_mapping


class UnitMappingTest(tf.test.TestCase):
  def test_vgg16_block5_conv3(self):
    """Four 2/2 pools before block5, each adding jump * 0.5: 0.5 (1 + 2 + 4 + 8) = 7.5."""
    model, _ = performers.build_performer("vgg16", 2, 224, width=0.125, fc_units=8)
    mapping = unit_mapping(model, "block5_conv3")
    self.assertEqual(mapping.stride, (16.0, 16.0))
    self.assertEqual(mapping.center, (7.5, 7.5))
    self.assertAllClose(mapping.to_pixels([[0, 13]]), [[7.5, 215.5]])
    # The inverse: the nearest unit, clipped to the map.
    self.assertAllEqual(
      mapping.to_units([[7.5, 215.5], [20.0, 0.0], [-30.0, 400.0]], 14), [[0, 13], [1, 0], [0, 13]]
    )

  def test_alexnet(self):
    """conv1 11/4 valid: centre 5, jump 4. pool1 3/2: +4, jump 8. pad 2 + conv2 5: 0.
    pool2 3/2: +8, jump 16. conv3-5 (pad 1, 3x3): 0. relu4 unit u -> 17 + 16 u.
    """
    model, _ = performers.build_performer("alexnet", 2, 227, width=0.125, fc_units=8)
    for layer in ("relu4", "conv5"):
      mapping = unit_mapping(model, layer)
      self.assertEqual(mapping.center, (17.0, 17.0))
      self.assertEqual(mapping.stride, (16.0, 16.0))
    # Unit 12, the last of 13, lies inside the 227 px image.
    self.assertLess(unit_mapping(model, "relu4").to_pixels([[12, 12]])[0, 0], 227)

  def test_same_padding_stride_and_dilation(self):
    """Conv 3x3 stride 2 'same' on 8 px: out 4, total pad (4-1)*2+3-8 = 1, lead 0 -> centre 1.
    Then 3x3 dilation 2 'same' stride 1: k_eff 5, lead 2 -> centre stays, jump 2.
    """
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(1, 3, strides=2, padding="same", name="a")(inputs)
    x = keras.layers.Conv2D(1, 3, dilation_rate=2, padding="same", name="b")(x)
    model = keras.Model(inputs, x)
    self.assertEqual(unit_mapping(model, "a").center, (1.0, 1.0))
    mapping = unit_mapping(model, "b")
    self.assertEqual(mapping.center, (1.0, 1.0))
    self.assertEqual(mapping.stride, (2.0, 2.0))

  def test_numeric_receptive_field_centre(self):
    """A bright bump changes unit (6, 7) of relu4 only inside its receptive field,
    which is centred on the mapped pixel. Positive kernels make every layer monotone;
    the torchvision variant has no LRN, which is not.
    """
    model, _ = performers.build_performer(
      "alexnet", 2, 227, width=0.125, fc_units=8, variant="torchvision"
    )
    sub = keras.Model(model.inputs[0], model.get_layer("relu4").output)
    for layer in sub.layers:
      if isinstance(layer, keras.layers.Conv2D):
        layer.kernel.assign(tf.ones_like(layer.kernel) * 0.01)
        layer.bias.assign(tf.zeros_like(layer.bias))
    centre = unit_mapping(model, "relu4").to_pixels([6, 7])
    base = sub(np.full((1, 227, 227, 3), 128.0, np.float32))[0, 6, 7, 0].numpy()
    for axis in (0, 1):
      images = np.full((227, 227, 227, 3), 128.0, np.float32)
      for i in range(227):
        if axis == 0:
          images[i, i, int(centre[1])] = 255.0
        else:
          images[i, int(centre[0]), i] = 255.0
      units = sub.predict(images, batch_size=64, verbose=0)[:, 6, 7, 0]
      inside = np.nonzero(np.abs(units - base) > 1e-4)[0]
      self.assertAllClose((inside.min() + inside.max()) / 2, centre[axis], atol=1.0)


if __name__ == "__main__":
  tf.test.main()
