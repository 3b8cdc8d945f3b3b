"""Tests for tf_explainer.performers: shapes, names, LRN, converters, save/load."""

import os
import tempfile

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from tf_explainer import performers
from tf_explainer.models import io as model_io
from tf_explainer.performers import alexnet, base, converters


def numpy_conv(x, kernel, bias, stride):
  """Valid cross-correlation, NHWC, kernel (kh, kw, in, out)."""
  kh, kw = kernel.shape[:2]
  windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
  windows = windows[:, ::stride, ::stride]  # (B, H', W', C, kh, kw)
  return np.einsum("bhwcij,ijco->bhwo", windows, kernel) + bias


def sub_model(model, name):
  return keras.Model(model.inputs[0], model.get_layer(name).output)


def preprocess(images):
  return images[..., ::-1] - np.array(base.CaffePreprocess.MEAN_BGR, np.float32)


class PerformerShapesTest(tf.test.TestCase, parameterized.TestCase):
  def test_vgg16_relu5_2_at_224(self):
    model, spec = performers.build_performer("vgg16", 2, 224, fc_units=32)
    self.assertEqual(tuple(model.get_layer(spec.target_layer).output.shape), (None, 14, 14, 512))
    self.assertEqual(spec.top_conv_layer, "block5_conv3")
    self.assertEqual(tuple(model.output.shape), (None, 2))

  def test_alexnet_relu4_at_227(self):
    model, spec = performers.build_performer("alexnet", 6, 227, fc_units=32)
    self.assertEqual(spec.target_layer, "relu4")
    self.assertEqual(tuple(model.get_layer("relu4").output.shape), (None, 13, 13, 384))
    self.assertEqual(model.get_layer("conv2").groups, 2)
    self.assertEqual(tuple(model.get_layer("pool5").output.shape), (None, 6, 6, 256))

  @parameterized.parameters("alexnet", "vgg_m", "vgg_s", "vgg16")
  def test_min_input_size(self, arch):
    size = performers.min_input_size(arch)
    model, spec = performers.build_performer(arch, 2, size, width=0.125, fc_units=8)
    side = model.get_layer(spec.target_layer).output.shape[1]
    self.assertGreaterEqual(side, 6)
    features = performers.feature_model(model, spec)(np.zeros((1, size, size, 3), np.float32))
    self.assertEqual(set(features), {"target", "relu6", "relu7", "logits"})
    with self.assertRaisesRegex(ValueError, "image_size"):
      performers.build_performer(arch, 2, size - 8, width=0.125, fc_units=8)

  def test_plain_graph_copy_matches_grouped_convolutions(self):
    model, spec = performers.build_performer("alexnet", 3, 115, width=0.125, fc_units=8)
    model.set_weights(
      [
        np.random.default_rng(i).normal(0, 0.05, w.shape).astype(np.float32)
        for i, w in enumerate(model.get_weights())
      ]
    )
    copy = performers.plain_graph_copy(model)
    self.assertIsInstance(copy.get_layer("conv2"), base.SplitGroupConv2D)
    self.assertEqual(copy.get_layer("conv2").groups, 2)
    self.assertNotIsInstance(copy.get_layer("conv3"), base.SplitGroupConv2D)
    images = np.random.default_rng(9).uniform(0, 255, (2, 115, 115, 3)).astype(np.float32)
    for name in (spec.target_layer, "relu5", "fc8"):
      self.assertAllClose(
        sub_model(copy, name)(images), sub_model(model, name)(images), rtol=1e-4, atol=1e-4
      )

  def test_unknown_arch(self):
    with self.assertRaisesRegex(ValueError, "arch='resnet'"):
      performers.build_performer("resnet", 2, 224)


class LocalResponseNormTest(tf.test.TestCase):
  def test_matches_caffe_formula(self):
    """b_c = a_c / (1 + alpha / n * sum_{|c' - c| <= 2} a_c'^2) ^ beta."""
    x = np.random.default_rng(0).random((1, 2, 2, 7)).astype(np.float32) * 50
    y = base.LocalResponseNorm()(x).numpy()
    sq = np.pad(x**2, [(0, 0), (0, 0), (0, 0), (2, 2)])
    window = sum(sq[..., i : i + 7] for i in range(5))
    self.assertAllClose(y, x / (1 + 1e-4 / 5 * window) ** 0.75, rtol=1e-5)


class ConvertersTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.tmp = tempfile.mkdtemp()
    self.rng = np.random.default_rng(0)

  def random_like(self, model, names, layout):
    weights = {}
    for name in names:
      kernel, bias = (w.shape for w in model.get_layer(name).weights)
      k = self.rng.normal(0, 0.05, layout(name, tuple(kernel))).astype(np.float32)
      weights[name] = [k, self.rng.normal(0, 0.05, bias).astype(np.float32)]
    return weights

  def test_bvlc_alexnet_npy(self):
    model, _ = alexnet.build(5, image_size=115, width=0.25, fc_units=16)
    weights = self.random_like(model, converters.CAFFE_LAYERS, lambda name, shape: shape)
    path = os.path.join(self.tmp, "bvlc_alexnet.npy")
    np.save(path, weights, allow_pickle=True)
    self.assertEqual(converters.load_bvlc_alexnet_npy(model, path), list(converters.CAFFE_LAYERS))
    images = self.rng.uniform(0, 255, (2, 115, 115, 3)).astype(np.float32)
    expected = numpy_conv(preprocess(images), *weights["conv1"], stride=4)
    self.assertAllClose(sub_model(model, "conv1")(images), expected, rtol=1e-4, atol=1e-3)
    pool5 = sub_model(model, "pool5")(images).numpy().reshape(2, -1)
    self.assertAllClose(
      sub_model(model, "fc6")(images),
      pool5 @ weights["fc6"][0] + weights["fc6"][1],
      rtol=1e-4,
      atol=1e-4,
    )

  def test_bvlc_shape_mismatch_names_file_and_layer(self):
    model, _ = alexnet.build(5, image_size=115, width=0.25, fc_units=16)
    weights = self.random_like(model, converters.CAFFE_LAYERS, lambda name, shape: shape)
    weights["conv3"][0] = weights["conv3"][0][..., :3]
    path = os.path.join(self.tmp, "bad.npy")
    np.save(path, weights, allow_pickle=True)
    with self.assertRaisesRegex(ValueError, r"bad\.npy: layer conv3"):
      converters.load_bvlc_alexnet_npy(model, path)

  def test_torchvision_npz(self):
    model, _ = alexnet.build(5, image_size=224, width=0.125, fc_units=16, variant="torchvision")

    def torch_layout(name, shape):
      if name.startswith("conv"):
        kh, kw, cin, cout = shape
        return (cout, cin, kh, kw)
      return shape[::-1]

    weights = self.random_like(model, converters.CAFFE_LAYERS, torch_layout)
    state = {}
    for name, key in converters.TORCHVISION_LAYERS.items():
      state[f"{key}.weight"], state[f"{key}.bias"] = weights[name]
    path = os.path.join(self.tmp, "alexnet.npz")
    np.savez(path, **state)
    converters.load_torchvision_alexnet_npz(model, path)
    images = self.rng.uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    padded = np.pad(preprocess(images), [(0, 0), (2, 2), (2, 2), (0, 0)])
    conv1 = numpy_conv(padded, weights["conv1"][0].transpose(2, 3, 1, 0), weights["conv1"][1], 4)
    self.assertAllClose(sub_model(model, "conv1")(images), conv1, rtol=1e-4, atol=1e-3)
    # torchvision flattens pool5 in CHW order.
    pool5 = sub_model(model, "pool5")(images).numpy().transpose(0, 3, 1, 2).reshape(2, -1)
    fc6 = pool5 @ weights["fc6"][0].T + weights["fc6"][1]
    self.assertAllClose(sub_model(model, "fc6")(images), fc6, rtol=1e-4, atol=1e-4)


class SaveLoadTest(tf.test.TestCase):
  def test_round_trip_and_missing(self):
    model, spec = performers.build_performer("alexnet", 2, 115, width=0.125, fc_units=8)
    spec.class_names = ("rest", "bird")
    tmp = tempfile.mkdtemp()
    model_io.save_performer(model, spec, tmp)
    loaded, loaded_spec = model_io.load_performer(tmp)
    self.assertEqual(loaded_spec, spec)
    x = np.random.default_rng(0).uniform(0, 255, (1, 115, 115, 3)).astype(np.float32)
    self.assertAllClose(model(x), loaded(x))
    with self.assertRaisesRegex(
      ValueError, r"performer_dir=.* holds no performer.*performer\.keras"
    ):
      model_io.load_performer(tempfile.mkdtemp())


if __name__ == "__main__":
  tf.test.main()
