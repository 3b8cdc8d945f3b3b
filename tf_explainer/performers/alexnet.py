"""AlexNet as in Caffe's bvlc_alexnet (and MatConvNet's port), plus torchvision's variant.

Caffe's network: conv1 96 11x11/4 -> LRN -> pool 3/2 -> conv2 256 5x5 (2 groups)
-> LRN -> pool 3/2 -> conv3 384 -> conv4 384 (2 groups) -> conv5 256 (2 groups)
-> pool 3/2 -> fc6 4096 -> fc7 4096 -> fc8. At 227 px `relu4` is 13 x 13 x 384.
"""

import keras

from tf_explainer.performers import base

CAFFE_FILTERS = (96, 256, 384, 384, 256)
TORCHVISION_FILTERS = (64, 192, 384, 256, 256)


def min_input_size():
  """Smallest input whose `relu4` is at least 6 x 6: conv1 27 -> pool1 13 -> pool2 6."""
  return 11 + 4 * 26  # 115


def build(
  num_classes,
  image_size=227,
  width=1.0,
  fc_units=4096,
  grouped=True,
  variant="caffe",
  name="alexnet",
):
  """Builds AlexNet.

  Args:
    num_classes: classifier outputs.
    image_size: square input side; at least `min_input_size()`.
    width: filter multiplier (1.0 = the original).
    fc_units: fc6 / fc7 width.
    grouped: two-group conv2, conv4, conv5 as the original (a CPU costs about
      twice the time for them, so `False` is offered).
    variant: `"caffe"` (LRN, groups) or `"torchvision"` (64-192-384-256-256,
      no LRN, no groups, padding 2 in conv1).

  Returns:
    `(model, spec)`.
  """
  if image_size < min_input_size():
    raise ValueError(f"AlexNet needs `image_size` >= {min_input_size()}, got {image_size}.")
  images = keras.Input((image_size, image_size, 3), name="images")
  x = base.CaffePreprocess(name="preprocess")(images)
  if variant == "caffe":
    f = [base.scaled(n, width) for n in CAFFE_FILTERS]
    groups = 2 if grouped else 1
    if groups == 2:
      f = [n + n % 2 for n in f]  # groups need even filter counts
    x = base.conv_relu(x, f[0], 11, "1", stride=4, padding="valid")
    x = base.LocalResponseNorm(name="norm1")(x)
    x = keras.layers.MaxPooling2D(3, 2, name="pool1")(x)
    x = base.zero_pad_conv_relu(x, f[1], 5, "2", pad=2, groups=groups)
    x = base.LocalResponseNorm(name="norm2")(x)
    x = keras.layers.MaxPooling2D(3, 2, name="pool2")(x)
    x = base.zero_pad_conv_relu(x, f[2], 3, "3", pad=1)
    x = base.zero_pad_conv_relu(x, f[3], 3, "4", pad=1, groups=groups)
    x = base.zero_pad_conv_relu(x, f[4], 3, "5", pad=1, groups=groups)
  elif variant == "torchvision":
    f = [base.scaled(n, width) for n in TORCHVISION_FILTERS]
    grouped = False
    x = base.zero_pad_conv_relu(x, f[0], 11, "1", pad=2, stride=4)
    x = keras.layers.MaxPooling2D(3, 2, name="pool1")(x)
    x = base.zero_pad_conv_relu(x, f[1], 5, "2", pad=2)
    x = keras.layers.MaxPooling2D(3, 2, name="pool2")(x)
    x = base.zero_pad_conv_relu(x, f[2], 3, "3", pad=1)
    x = base.zero_pad_conv_relu(x, f[3], 3, "4", pad=1)
    x = base.zero_pad_conv_relu(x, f[4], 3, "5", pad=1)
  else:
    raise ValueError(f"Unknown AlexNet variant {variant!r}: use 'caffe' or 'torchvision'.")
  pool5 = keras.layers.MaxPooling2D(3, 2, name="pool5")
  logits = base.classifier_head(pool5(x), fc_units, num_classes)
  model = keras.Model(images, logits, name=name)
  spec = base.PerformerSpec(
    arch="alexnet",
    num_classes=num_classes,
    image_size=image_size,
    width=width,
    fc_units=fc_units,
    target_layer="relu4",
    top_conv_layer="conv5",
    last_pool=base.pool_config(pool5),
    grouped=grouped,
  )
  return model, spec
