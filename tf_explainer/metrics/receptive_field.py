"""Unit-to-pixel mapping derived from a Keras model's layer configs.

Unit `u` (0-based) of a layer maps to the input pixel `center + u * stride`
(pixel centres are integers). Walking from the input, a layer with kernel `k`,
dilation `d` (effective kernel `d (k - 1) + 1`), stride `s` and leading
padding `p` moves the centre by `jump * ((k_eff - 1) / 2 - p)` and multiplies
the jump by `s`. VGG-16's `block5_conv3` at 224 px: `16 u + 7.5`.
"""

import dataclasses

import keras

from tf_explainer import compat

_SPATIAL = (
  keras.layers.Conv2D,
  keras.layers.MaxPooling2D,
  keras.layers.AveragePooling2D,
  keras.layers.ZeroPadding2D,
  keras.layers.DepthwiseConv2D,
)


@dataclasses.dataclass(frozen=True)
class UnitMapping:
  """Pixel of unit `u`: `center + u * stride`, per axis (row, col)."""

  center: tuple
  stride: tuple

  def to_pixels(self, units):
    """Maps `(..., 2)` unit indices (row, col) to pixel coordinates."""
    import numpy as np

    units = np.asarray(units, np.float64)
    return np.asarray(self.center) + units * np.asarray(self.stride)

  def to_units(self, pixels, size):
    """The inverse of `to_pixels`: the unit nearest each `(..., 2)` pixel of a `size` x
    `size` map (int)."""
    import numpy as np

    units = np.round((np.asarray(pixels, np.float64) - self.center) / np.asarray(self.stride))
    return np.clip(units, 0, size - 1).astype(int)


def _pair(value):
  return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def _chain(model, layer_name):
  """Layers from the input to `layer_name`, following each layer's first inbound layer."""
  layer = model.get_layer(layer_name)
  chain = []
  while layer is not None:
    chain.append(layer)
    layer = compat.inbound_layer(layer)
  return chain[::-1]


def unit_mapping(model, layer_name):
  """The `UnitMapping` of `layer_name`'s output units onto `model`'s input pixels.

  Supports chains of convolution, pooling, zero-padding and element-wise
  layers (activations, normalisation, preprocessing), as in every performer.

  Raises:
    ValueError: for a layer that changes geometry in a way not modelled here.
  """
  center = [0.0, 0.0]
  jump = [1.0, 1.0]
  for layer in _chain(model, layer_name):
    if not isinstance(layer, _SPATIAL):
      in_shape = getattr(layer, "input", None)
      out_shape = getattr(layer, "output", None)
      if (
        in_shape is not None
        and out_shape is not None
        and len(in_shape.shape) == 4
        and tuple(in_shape.shape[1:3]) != tuple(out_shape.shape[1:3])
      ):
        raise ValueError(
          f"Layer {layer.name} changes the map size in a way unit_mapping does not model."
        )
      continue
    config = layer.get_config()
    in_size = layer.input.shape[1:3]
    out_size = layer.output.shape[1:3]
    if isinstance(layer, keras.layers.ZeroPadding2D):
      (top, _), (left, _) = config["padding"]
      kernel, stride, dilation, lead = (1, 1), (1, 1), (1, 1), (top, left)
    else:
      kernel = _pair(config.get("kernel_size", config.get("pool_size")))
      stride = _pair(config.get("strides") or kernel)
      dilation = _pair(config.get("dilation_rate", 1))
      lead = [0, 0]
      if config.get("padding") == "same":
        for axis in range(2):
          k_eff = dilation[axis] * (kernel[axis] - 1) + 1
          total = max((out_size[axis] - 1) * stride[axis] + k_eff - in_size[axis], 0)
          lead[axis] = total // 2
    for axis in range(2):
      k_eff = dilation[axis] * (kernel[axis] - 1) + 1
      center[axis] += jump[axis] * ((k_eff - 1) / 2.0 - lead[axis])
      jump[axis] *= stride[axis]
  return UnitMapping(tuple(center), tuple(jump))
