"""Weights of published AlexNets into our Keras port.

* `bvlc_alexnet.npy`: the widely used conversion of Caffe's bvlc_alexnet, a
  pickled dict `layer name -> [W, b]` with conv kernels `(kh, kw, in / groups,
  out)` and fc kernels `(in, out)`, fc6's input in `(6, 6, 256)` HWC order.
* torchvision AlexNet: a state dict saved as `.npz`
  (`np.savez(path, **{k: v.numpy() for k, v in model.state_dict().items()})`),
  conv kernels `(out, in, kh, kw)`, fc kernels `(out, in)`, fc6's input in CHW
  order. Load it into `alexnet.build(..., variant="torchvision")`.
"""

import numpy as np

CAFFE_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
TORCHVISION_LAYERS = {
  "conv1": "features.0",
  "conv2": "features.3",
  "conv3": "features.6",
  "conv4": "features.8",
  "conv5": "features.10",
  "fc6": "classifier.1",
  "fc7": "classifier.4",
  "fc8": "classifier.6",
}


def _assign(model, layer_name, kernel, bias, path, skip_mismatched_classifier):
  layer = model.get_layer(layer_name)
  want_k, want_b = [tuple(w.shape) for w in layer.weights]
  if tuple(kernel.shape) != want_k or tuple(bias.shape) != want_b:
    if layer_name == "fc8" and skip_mismatched_classifier:
      return False
    raise ValueError(
      f"{path}: layer {layer_name} has kernel {tuple(kernel.shape)} and bias "
      f"{tuple(bias.shape)}, the model expects {want_k} and {want_b}."
    )
  layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
  return True


def load_bvlc_alexnet_npy(model, path, skip_mismatched_classifier=True):
  """Loads `bvlc_alexnet.npy` into a Caffe-variant AlexNet.

  Args:
    model: from `alexnet.build(..., variant="caffe")`, grouped.
    path: the `.npy` file.
    skip_mismatched_classifier: keep our fc8 when its class count differs
      (fine-tuning to new classes).

  Returns:
    The layer names loaded.
  """
  try:
    weights = np.load(path, allow_pickle=True, encoding="latin1").item()
  except (OSError, ValueError, AttributeError) as e:
    raise ValueError(f"{path}: not a bvlc_alexnet .npy weights file ({e}).") from None
  loaded = []
  for name in CAFFE_LAYERS:
    if name not in weights:
      raise ValueError(f"{path}: no weights for layer {name}.")
    kernel, bias = (np.asarray(w) for w in weights[name])
    if _assign(model, name, kernel, bias, path, skip_mismatched_classifier):
      loaded.append(name)
  return loaded


def torchvision_fc6_to_hwc(kernel, channels, size=6):
  """torchvision fc6 `(out, C*H*W)` (CHW flatten) -> Keras `(H*W*C, out)`."""
  out = kernel.shape[0]
  return kernel.reshape(out, channels, size, size).transpose(2, 3, 1, 0).reshape(-1, out)


def load_torchvision_alexnet_npz(model, path, skip_mismatched_classifier=True):
  """Loads a torchvision AlexNet state dict (`.npz`) into `variant="torchvision"`.

  Returns:
    The layer names loaded.
  """
  try:
    state = dict(np.load(path))
  except (OSError, ValueError) as e:
    raise ValueError(f"{path}: not an .npz state dict ({e}).") from None
  loaded = []
  for name, key in TORCHVISION_LAYERS.items():
    for suffix in ("weight", "bias"):
      if f"{key}.{suffix}" not in state:
        raise ValueError(f"{path}: no {key}.{suffix} for layer {name}.")
    kernel, bias = state[f"{key}.weight"], state[f"{key}.bias"]
    if name.startswith("conv"):
      kernel = kernel.transpose(2, 3, 1, 0)
    elif name == "fc6":
      pooled = model.get_layer("pool5").output.shape
      kernel = torchvision_fc6_to_hwc(kernel, pooled[-1], pooled[1])
    else:
      kernel = kernel.T
    if _assign(model, name, kernel, bias, path, skip_mismatched_classifier):
      loaded.append(name)
  return loaded
