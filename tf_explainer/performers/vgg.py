"""VGG-M and VGG-S (Chatfield et al., 2014) and VGG-16 (Keras applications)."""

import keras

from tf_explainer.performers import base


def build_vgg_m(num_classes, image_size=224, width=1.0, fc_units=4096, name="vgg_m"):
  """VGG-M: conv1 96 7x7/2 -> LRN -> pool 3/2 -> conv2 256 5x5/2 -> LRN -> pool 3/2
  -> conv3-5 512 3x3 -> pool 3/2 -> fc6 -> fc7. `relu4` is 13 x 13 at 224 px
  with Caffe's ceil pooling, 12 x 12 with Keras' floor pooling used here.
  """
  if image_size < vgg_m_min_input_size():
    raise ValueError(f"VGG-M needs `image_size` >= {vgg_m_min_input_size()}, got {image_size}.")
  f = [base.scaled(n, width) for n in (96, 256, 512, 512, 512)]
  images = keras.Input((image_size, image_size, 3), name="images")
  x = base.CaffePreprocess(name="preprocess")(images)
  x = base.conv_relu(x, f[0], 7, "1", stride=2, padding="valid")
  x = base.LocalResponseNorm(name="norm1")(x)
  x = keras.layers.MaxPooling2D(3, 2, name="pool1")(x)
  x = base.zero_pad_conv_relu(x, f[1], 5, "2", pad=1, stride=2)
  x = base.LocalResponseNorm(name="norm2")(x)
  x = keras.layers.MaxPooling2D(3, 2, name="pool2")(x)
  for i in (3, 4, 5):
    x = base.zero_pad_conv_relu(x, f[i - 1], 3, str(i), pad=1)
  pool5 = keras.layers.MaxPooling2D(3, 2, name="pool5")
  logits = base.classifier_head(pool5(x), fc_units, num_classes)
  spec = base.PerformerSpec(
    arch="vgg_m",
    num_classes=num_classes,
    image_size=image_size,
    width=width,
    fc_units=fc_units,
    target_layer="relu4",
    top_conv_layer="conv5",
    last_pool=base.pool_config(pool5),
    grouped=False,
  )
  return keras.Model(images, logits, name=name), spec


def vgg_m_min_input_size():
  """pool2 >= 6 <- conv2 >= 13 <- pool1 >= 27 <- conv1 >= 55 <- 7 + 2 * 54 pixels."""
  return 115


def build_vgg_s(num_classes, image_size=224, width=1.0, fc_units=4096, name="vgg_s"):
  """VGG-S: conv1 96 7x7/2 -> LRN -> pool 3/3 -> conv2 256 5x5 -> pool 2/2
  -> conv3-5 512 3x3 -> pool 3/3 -> fc6 -> fc7.
  """
  if image_size < vgg_s_min_input_size():
    raise ValueError(f"VGG-S needs `image_size` >= {vgg_s_min_input_size()}, got {image_size}.")
  f = [base.scaled(n, width) for n in (96, 256, 512, 512, 512)]
  images = keras.Input((image_size, image_size, 3), name="images")
  x = base.CaffePreprocess(name="preprocess")(images)
  x = base.conv_relu(x, f[0], 7, "1", stride=2, padding="valid")
  x = base.LocalResponseNorm(name="norm1")(x)
  x = keras.layers.MaxPooling2D(3, 3, name="pool1")(x)
  x = base.conv_relu(x, f[1], 5, "2", padding="valid")
  x = keras.layers.MaxPooling2D(2, 2, name="pool2")(x)
  for i in (3, 4, 5):
    x = base.zero_pad_conv_relu(x, f[i - 1], 3, str(i), pad=1)
  pool5 = keras.layers.MaxPooling2D(3, 3, name="pool5")
  logits = base.classifier_head(pool5(x), fc_units, num_classes)
  spec = base.PerformerSpec(
    arch="vgg_s",
    num_classes=num_classes,
    image_size=image_size,
    width=width,
    fc_units=fc_units,
    target_layer="relu4",
    top_conv_layer="conv5",
    last_pool=base.pool_config(pool5),
    grouped=False,
  )
  return keras.Model(images, logits, name=name), spec


def vgg_s_min_input_size():
  """pool2 >= 6 <- conv2 >= 12 <- pool1 >= 16 <- conv1 >= 48 <- 7 + 2 * 47 pixels."""
  return 101


VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def build_vgg16(num_classes, image_size=224, width=1.0, fc_units=4096, weights=None, name="vgg16"):
  """VGG-16 on `keras.applications.VGG16`.

  Args:
    weights: `None`, `"imagenet"` (the conv weights, offline through
      `tf_explainer.performers.imagenet`) or the path of a local Keras weights
      file for the conv base (`include_top=False`).
    width: only 1.0 with `weights`; other values build a narrower VGG-16 of
      the same layer names for CPU-scale work.

  The input is RGB 0-255; `CaffePreprocess` inside the model does what
  `keras.applications.vgg16.preprocess_input` does.

  Its target layer `relu5_2` is the output of `block5_conv2` (Keras fuses the
  ReLU into the conv); at 224 px it is 14 x 14 x 512.
  """
  if image_size < 96:
    raise ValueError(f"VGG-16 needs `image_size` >= 96 (relu5_2 >= 6 x 6), got {image_size}.")
  if weights is not None and width != 1.0:
    raise ValueError("VGG-16 weights need width=1.0.")
  images = keras.Input((image_size, image_size, 3), name="images")
  x = base.CaffePreprocess(name="preprocess")(images)
  # The layers and names of keras.applications.VGG16, built here so that
  # every layer is reachable by name in one functional graph.
  for block, (n, convs) in enumerate(VGG16_BLOCKS):
    for c in range(convs):
      x = keras.layers.Conv2D(
        base.scaled(n, width),
        3,
        padding="same",
        activation="relu",
        name=f"block{block + 1}_conv{c + 1}",
      )(x)
    x = keras.layers.MaxPooling2D(2, 2, name=f"block{block + 1}_pool")(x)
  logits = base.classifier_head(x, fc_units, num_classes)
  model = keras.Model(images, logits, name=name)
  if weights == "imagenet":
    from tf_explainer.performers import imagenet

    imagenet.load_conv_weights(model, image_size)
  elif weights is not None:
    application = keras.applications.VGG16(
      include_top=False, weights=weights, input_shape=(image_size, image_size, 3)
    )
    for layer in application.layers:
      if layer.name.startswith("block") and layer.get_weights():
        model.get_layer(layer.name).set_weights(layer.get_weights())
  spec = base.PerformerSpec(
    arch="vgg16",
    num_classes=num_classes,
    image_size=image_size,
    width=width,
    fc_units=fc_units,
    target_layer="block5_conv2",
    top_conv_layer="block5_conv3",
    last_pool={"pool_size": (2, 2), "strides": (2, 2), "padding": "valid"},
    grouped=False,
  )
  return model, spec
