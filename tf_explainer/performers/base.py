"""What every performer shares: its description, preprocessing and head."""

import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tf_explainer import io_utils

from tf_explainer.configs import ARCHITECTURES, PREPROCESSING_MODES  # noqa: F401


@dataclasses.dataclass
class PerformerSpec:
  """Names and settings of a performer that the explainer and evaluation rely on.

  Attributes:
    arch: one of `ARCHITECTURES`.
    num_classes: classifier outputs (2 for single-category: 0 = rest, 1 = target).
    image_size: square input side in pixels.
    width: multiplier of every conv layer's filters (1.0 = the paper's network).
    fc_units: width of fc6 and fc7.
    task: `"single"` or `"multi"`.
    target_class: the positive class of a single-category performer (0-based
      index into the dataset's classes), else `None`.
    class_names: names of the classifier's outputs.
    target_layer, top_conv_layer: layer names (post-ReLU target map; top conv).
    fc_layers: post-ReLU fc6 and fc7 layer names.
    fc_dense_layers: the Dense layers of fc6 and fc7 (weights for the decoder).
    classifier_layer: the final Dense layer (logits).
    last_pool: `{"pool_size", "strides", "padding"}` of the last pooling layer.
    grouped: AlexNet's two-group convolutions (the original port) or not.
    train_split: the images it was trained on: `"train"`, or
      `"train_without_validation"` while settings are chosen.
    weights: what training started from: `"scratch"`, `"synthetic"` (the
      shipped pretrained weights), `"imagenet"` or a weights file;
      `"imported"` for a model described by `keras_import.from_keras`.
    fc_widths: the width of each reconstructed layer where they differ
      (imported models); empty: `fc_units` each.
    preprocessing: what the model expects of RGB 0-255 images, applied by
      every probe (`image_probe`): `"none"` (the built-in performers hold
      theirs, `CaffePreprocess`), `"caffe"`, `"torch"` or `"tf"`.
    fc_reads_top_conv: whether the first reconstructed layer is a Dense layer
      reading the flattened last pooling of the top conv (then the
      explainer's decoder starts as a copy of it).
  """

  arch: str
  num_classes: int
  image_size: int
  width: float = 1.0
  fc_units: int = 4096
  task: str = "multi"
  target_class: Optional[int] = None
  class_names: tuple = ()
  target_layer: str = ""
  top_conv_layer: str = ""
  fc_layers: tuple = ("relu6", "relu7")
  fc_dense_layers: tuple = ("fc6", "fc7")
  classifier_layer: str = "fc8"
  last_pool: Optional[dict] = None
  grouped: bool = True
  train_split: str = "train"
  weights: str = "scratch"
  fc_widths: tuple = ()
  preprocessing: str = "none"
  fc_reads_top_conv: bool = True

  @property
  def fc_names(self):
    """The names of the reconstructed layers: outputs, targets and cache keys use them.

    The Dense layers' names where every reconstructed layer is one (`fc6`,
    `fc7` for the built-in performers), else the layers read (`fc_layers`).
    """
    if len(self.fc_dense_layers) == len(self.fc_layers):
      return tuple(self.fc_dense_layers)
    return tuple(self.fc_layers)

  @property
  def fc_sizes(self):
    """The widths of the reconstructed layers."""
    return tuple(self.fc_widths) or (self.fc_units,) * len(self.fc_layers)

  def to_dict(self):
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values):
    values = dict(values)
    for key in ("class_names", "fc_layers", "fc_dense_layers", "fc_widths"):
      if key in values:
        values[key] = tuple(values[key])
    if values.get("last_pool"):
      values["last_pool"] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in values["last_pool"].items()
      }
    return io_utils.dataclass_from_dict(cls, values, "performer spec")


@keras.saving.register_keras_serializable(package="tf_explainer")
class CaffePreprocess(keras.layers.Layer):
  """RGB 0-255 in, BGR minus the ImageNet channel means out (Caffe/MatConvNet style).

  Keeping preprocessing inside the model puts it inside every exported graph.
  """

  MEAN_BGR = (103.939, 116.779, 123.68)

  def call(self, images):
    images = tf.cast(images, self.compute_dtype)
    bgr = images[..., ::-1]
    return bgr - tf.constant(self.MEAN_BGR, dtype=self.compute_dtype)


@keras.saving.register_keras_serializable(package="tf_explainer")
class ImagePreprocess(keras.layers.Layer):
  """RGB 0-255 images to what an imported model expects.

  `caffe`: BGR minus the ImageNet means (`CaffePreprocess`); `torch`: 0-1,
  minus the ImageNet means, over their deviations; `tf`: -1 to 1; `none`: as
  they are.
  """

  MEAN_RGB = (0.485, 0.456, 0.406)
  STD_RGB = (0.229, 0.224, 0.225)

  def __init__(self, mode="none", **kwargs):
    super().__init__(**kwargs)
    if mode not in PREPROCESSING_MODES:
      raise ValueError(f"preprocessing={mode}: expected one of {', '.join(PREPROCESSING_MODES)}.")
    self.mode = mode

  def call(self, images):
    x = tf.cast(images, self.compute_dtype)
    if self.mode == "caffe":
      return x[..., ::-1] - tf.constant(CaffePreprocess.MEAN_BGR, dtype=self.compute_dtype)
    if self.mode == "torch":
      mean = tf.constant(self.MEAN_RGB, dtype=self.compute_dtype)
      std = tf.constant(self.STD_RGB, dtype=self.compute_dtype)
      return (x / 255.0 - mean) / std
    if self.mode == "tf":
      return x / 127.5 - 1.0
    return x

  def get_config(self):
    config = super().get_config()
    config["mode"] = self.mode
    return config


@keras.saving.register_keras_serializable(package="tf_explainer")
class LocalResponseNorm(keras.layers.Layer):
  """Caffe's cross-channel LRN: `x / (k + alpha / n * sum_window x^2) ** beta`.

  Args:
    size: channels in the window (`n`, odd).
    alpha, beta, k: Caffe's parameters (`alpha` is divided by `size`, as Caffe does).
  """

  def __init__(self, size=5, alpha=1e-4, beta=0.75, k=1.0, **kwargs):
    super().__init__(**kwargs)
    self.size, self.alpha, self.beta, self.k = int(size), float(alpha), float(beta), float(k)

  def call(self, x):
    y = tf.nn.local_response_normalization(
      tf.cast(x, tf.float32),
      depth_radius=self.size // 2,
      bias=self.k,
      alpha=self.alpha / self.size,
      beta=self.beta,
    )
    return tf.cast(y, x.dtype)

  def get_config(self):
    config = super().get_config()
    config.update(size=self.size, alpha=self.alpha, beta=self.beta, k=self.k)
    return config


@keras.saving.register_keras_serializable(package="tf_explainer")
class SplitGroupConv2D(keras.layers.Conv2D):
  """`Conv2D` with `groups > 1` as one plain convolution per group, concatenated.

  Same weights and outputs as `keras.layers.Conv2D(groups=g)`. Keras' TensorFlow
  backend runs grouped convolutions through an XLA-compiled function (TF's own
  grouped kernel is missing on CPU), and a SavedModel then holds functions
  marked `_XlaMustCompile` that TF Serving runs only with XLA enabled. Split
  channels keep the exported graph plain.
  """

  def convolution_op(self, inputs, kernel):
    if self.groups == 1:
      return super().convolution_op(inputs, kernel)
    axis = -1 if self.data_format == "channels_last" else 1
    parts = zip(ops.split(inputs, self.groups, axis=axis), ops.split(kernel, self.groups, axis=-1))
    return ops.concatenate(
      [super(SplitGroupConv2D, self).convolution_op(x, k) for x, k in parts], axis=axis
    )


def plain_graph_copy(model):
  """A copy of `model`, same weights, whose graph needs no XLA (for export).

  Every grouped `Conv2D` becomes a `SplitGroupConv2D`; other layers are cloned
  from their configs.
  """

  def clone(layer):
    if type(layer) is keras.layers.Conv2D and layer.groups > 1:
      return SplitGroupConv2D.from_config(layer.get_config())
    return layer.__class__.from_config(layer.get_config())

  copy = keras.models.clone_model(model, clone_function=clone)
  copy.set_weights(model.get_weights())
  return copy


def conv_relu(x, filters, kernel, name, stride=1, padding="same", groups=1):
  """Conv layer `conv<name>` followed by a separate `relu<name>` layer."""
  x = keras.layers.Conv2D(
    filters, kernel, strides=stride, padding=padding, groups=groups, name=f"conv{name}"
  )(x)
  return keras.layers.ReLU(name=f"relu{name}")(x)


def zero_pad_conv_relu(x, filters, kernel, name, pad, stride=1, groups=1):
  """Caffe-style explicit padding (`pad` pixels on each side), then a valid conv."""
  if pad:
    x = keras.layers.ZeroPadding2D(pad, name=f"pad{name}")(x)
  return conv_relu(x, filters, kernel, name, stride=stride, padding="valid", groups=groups)


def classifier_head(x, fc_units, num_classes, dropout=0.5):
  """flatten -> fc6 -> relu6 -> dropout -> fc7 -> relu7 -> dropout -> fc8 (logits)."""
  x = keras.layers.Flatten(name="flatten")(x)
  x = keras.layers.Dense(fc_units, name="fc6")(x)
  x = keras.layers.ReLU(name="relu6")(x)
  x = keras.layers.Dropout(dropout, name="drop6")(x)
  x = keras.layers.Dense(fc_units, name="fc7")(x)
  x = keras.layers.ReLU(name="relu7")(x)
  x = keras.layers.Dropout(dropout, name="drop7")(x)
  return keras.layers.Dense(num_classes, name="fc8", dtype="float32")(x)


def scaled(filters, width):
  return max(1, int(round(filters * width)))


def pool_config(layer):
  """The `last_pool` dict of a Keras pooling layer."""
  config = layer.get_config()
  return {
    "pool_size": tuple(config["pool_size"]),
    "strides": tuple(config["strides"]),
    "padding": config["padding"],
  }


def square_map(model, name, flag="target_layer"):
  """The output shape `(batch, L, L, D)` of the layer `name`: one line naming `flag` where the
  model has no such layer or its output is not a square map."""
  try:
    layer = model.get_layer(name)
  except ValueError:
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    raise ValueError(
      f"{flag}={name}: the model has no such layer; candidates: {', '.join(convs) or 'none'}."
    ) from None
  shape = tuple(layer.output.shape)
  if len(shape) != 4 or shape[1] != shape[2] or not shape[1]:
    raise ValueError(f"{flag}={name}: output shape {shape} is not a square map (batch, L, L, D).")
  return shape


def retarget(model, spec, target_layer, flag="target_layer"):
  """`spec` with the explainer reading `target_layer` in place of the spec's target.

  The new target must be a square map at or below the top conv layer. Where the
  performer's first fc layer reads its pooled top conv (the paper's networks), a
  target of another side is pooled k x k, stride k, to the side that layer reads
  (VGG-16's `block4_conv3`, 28 x 28 at 224 px, pooled 4 x 4 to pool5's 7 x 7),
  so that the decoder still starts as the performer's fc layers.

  Raises:
    ValueError: one line naming `flag` and what was expected.
  """
  if not target_layer or target_layer == spec.target_layer:
    return spec
  shape = square_map(model, target_layer, flag)
  names = [layer.name for layer in model.layers]
  if names.index(target_layer) > names.index(spec.top_conv_layer):
    raise ValueError(
      f"{flag}={target_layer} comes after the top conv layer {spec.top_conv_layer}: "
      "choose a layer at or below it."
    )
  pool = spec.last_pool
  top_side = model.get_layer(spec.top_conv_layer).output.shape[1]
  if spec.fc_reads_top_conv and pool and shape[1] != top_side:
    fc_side = keras.layers.MaxPooling2D(**pool).compute_output_shape((None, top_side, top_side, 1))
    fc_side = fc_side[1]
    if shape[1] % fc_side:
      raise ValueError(
        f"{flag}={target_layer}: its {shape[1]} x {shape[1]} maps do not pool evenly to the "
        f"{fc_side} x {fc_side} map that {spec.fc_dense_layers[0]} reads."
      )
    k = shape[1] // fc_side
    pool = {"pool_size": (k, k), "strides": (k, k), "padding": "valid"}
  return dataclasses.replace(spec, target_layer=target_layer, last_pool=pool)


def image_probe(model, spec, layers, name=None):
  """A model from RGB 0-255 images to the outputs of `layers` (a dict: key -> layer name).

  The layer name `"logits"` is the model's output. The spec's
  `preprocessing` is applied first, so every caller feeds the same images.
  """
  outputs = {
    key: model.outputs[0] if layer == "logits" else model.get_layer(layer).output
    for key, layer in layers.items()
  }
  probe = keras.Model(model.inputs[0], outputs, name=name or f"{model.name}_probe")
  if spec.preprocessing == "none":
    return probe
  images = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name="images")
  x = ImagePreprocess(spec.preprocessing, name="preprocess")(images)
  return keras.Model(images, probe(x), name=name or f"{model.name}_probe")


def feature_model(model, spec):
  """A model from images to the target map, the reconstructed layers (post-activation) and
  the logits."""
  layers = {"target": spec.target_layer, "logits": "logits"}
  layers.update({name: name for name in spec.fc_layers})
  return image_probe(model, spec, layers, name=f"{model.name}_features")


def layer_weights(model, name):
  """`[kernel, bias]` of a layer as numpy arrays; grouped kernels expanded to full."""
  layer = model.get_layer(name)
  weights = [np.asarray(w) for w in layer.get_weights()]
  kernel = weights[0]
  bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[-1], kernel.dtype)
  groups = getattr(layer, "groups", 1)
  if groups > 1:
    kh, kw, cin_g, cout = kernel.shape
    full = np.zeros((kh, kw, cin_g * groups, cout), kernel.dtype)
    step = cout // groups
    for g in range(groups):
      full[:, :, g * cin_g : (g + 1) * cin_g, g * step : (g + 1) * step] = kernel[
        :, :, :, g * step : (g + 1) * step
      ]
    kernel = full
  return kernel, bias
