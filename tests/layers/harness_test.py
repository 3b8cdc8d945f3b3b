"""Every custom layer of the package through the shared layer-test harness."""

from absl.testing import parameterized
import tensorflow as tf

from tests.layers import layer_test_util
from tf_explainer.layers import NormLayer, SigmoidGate, TemplateMask
from tf_explainer.performers.base import (
  CaffePreprocess,
  ImagePreprocess,
  LocalResponseNorm,
  SplitGroupConv2D,
)

# name, class, init kwargs, input shapes, output shape, trainable, non-trainable, input scale
CASES = (
  ("norm_layer", NormLayer, {"momentum": 0.9}, [(5, 5, 3)], (5, 5, 3), 0, 2, 1.0),
  ("template_mask", TemplateMask, {}, [(5, 5, 3)], (5, 5, 3), 0, 0, 1.0),
  (
    "template_mask_icnn",
    TemplateMask,
    {"mode": "icnn", "beta": 2.0},
    [(5, 5, 3)],
    (5, 5, 3),
    0,
    1,
    1.0,
  ),
  ("sigmoid_gate", SigmoidGate, {"initial_p": 0.3}, [(4, 4, 3), (4, 4, 3)], (4, 4, 3), 1, 0, 1.0),
  ("caffe_preprocess", CaffePreprocess, {}, [(8, 8, 3)], (8, 8, 3), 0, 0, 255.0),
  (
    "image_preprocess_caffe",
    ImagePreprocess,
    {"mode": "caffe"},
    [(8, 8, 3)],
    (8, 8, 3),
    0,
    0,
    255.0,
  ),
  (
    "image_preprocess_torch",
    ImagePreprocess,
    {"mode": "torch"},
    [(8, 8, 3)],
    (8, 8, 3),
    0,
    0,
    255.0,
  ),
  ("image_preprocess_tf", ImagePreprocess, {"mode": "tf"}, [(8, 8, 3)], (8, 8, 3), 0, 0, 255.0),
  ("local_response_norm", LocalResponseNorm, {"size": 5}, [(4, 4, 8)], (4, 4, 8), 0, 0, 1.0),
  (
    "split_group_conv2d",
    SplitGroupConv2D,
    {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same"},
    [(6, 6, 4)],
    (6, 6, 4),
    2,
    0,
    1.0,
  ),
)


class LayerHarnessTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.named_parameters(*CASES)
  def test_layer(self, layer_cls, kwargs, shapes, output_shape, trainable, non_trainable, scale):
    layer_test_util.run_layer_test(
      self, layer_cls, kwargs, shapes, output_shape, trainable, non_trainable, scale=scale
    )


if __name__ == "__main__":
  tf.test.main()
