"""Performer weights shipped with the package, pretrained on the synthetic corpus.

Each shipped performer is two files in `tf_explainer/performers/weights/`:

- `<arch>_synthetic.npz`: the weights of every layer but the classifier,
  keyed `<layer name>/<index>`;
- `<arch>_synthetic.json`: its model card: the network's settings, the
  corpus, the command that made it, the epochs, the test accuracy on the
  corpus, and the file's SHA-256.

`load_synthetic(model, arch)` checks the file against the card before a
single weight is set, so a changed or truncated file fails with one line.
`training/train_performer.py --weights=synthetic` starts from these weights
and fine-tunes on the target data; `training/pretrain_performer.py` remakes
them.
"""

import hashlib
import io
import json
import os

import numpy as np

from tf_explainer import io_utils

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
# The settings the shipped network was built with; a fine-tuned performer must match them.
ARCH_SETTINGS = ("width", "fc_units", "image_size")


def paths(arch, directory=None):
  """`(weights file, model card)` of the shipped `arch`."""
  directory = directory or WEIGHTS_DIR
  return (
    os.path.join(directory, f"{arch}_synthetic.npz"),
    os.path.join(directory, f"{arch}_synthetic.json"),
  )


def available(directory=None):
  """The architectures with shipped synthetic weights."""
  directory = directory or WEIGHTS_DIR
  if not os.path.isdir(directory):
    return []
  return sorted(
    name[: -len("_synthetic.json")]
    for name in os.listdir(directory)
    if name.endswith("_synthetic.json")
  )


def sha256(path):
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def card(arch, directory=None):
  """The model card (a dict) of the shipped `arch`; one-line error when there is none."""
  _, card_path = paths(arch, directory)
  if not os.path.exists(card_path):
    have = available(directory)
    raise ValueError(
      f"weights=synthetic: no synthetic weights are shipped for arch={arch} "
      f"(shipped: {', '.join(have) if have else 'none'})."
    )
  with open(card_path) as f:
    return json.load(f)


def check_settings(arch, settings, directory=None):
  """Raises a one-line error when `settings` (flag -> value) differ from the shipped network."""
  shipped = card(arch, directory)
  for name in ARCH_SETTINGS:
    value = settings.get(name)
    if value is not None and float(value) != float(shipped[name]):
      raise ValueError(
        f"weights=synthetic: {name}={value} differs from the shipped "
        f"{arch} ({name} = {shipped[name]}); leave `{name}` unset or set it to "
        f"{shipped[name]}."
      )
  return shipped


def load_synthetic(model, arch, classifier_layer, directory=None):
  """Sets every layer of `model` but `classifier_layer` from the shipped weights.

  Returns:
    The model card.
  """
  shipped = card(arch, directory)
  weights_path, _ = paths(arch, directory)
  if not os.path.exists(weights_path):
    raise ValueError(f"weights=synthetic: {weights_path} is missing; reinstall the package.")
  digest = sha256(weights_path)
  if digest != shipped["sha256"]:
    raise ValueError(
      f"weights=synthetic: {weights_path} fails its checksum (SHA-256 {digest}, "
      f"the model card says {shipped['sha256']}); reinstall the package or remake "
      f"it with training/pretrain_performer.py."
    )
  with np.load(weights_path) as stored:
    arrays = {key: stored[key] for key in stored.files}
  for layer in model.layers:
    if layer.name == classifier_layer or not layer.weights:
      continue
    values = [arrays.get(f"{layer.name}/{i}") for i in range(len(layer.weights))]
    if any(v is None for v in values):
      raise ValueError(
        f"weights=synthetic: {weights_path} has no weights for layer {layer.name!r} of {arch}."
      )
    for variable, value in zip(layer.weights, values):
      if tuple(variable.shape) != value.shape:
        raise ValueError(
          f"weights=synthetic: layer {layer.name!r} of {arch} has shape "
          f"{tuple(variable.shape)}, the shipped weights {value.shape}."
        )
    layer.set_weights(values)
  return shipped


def export_synthetic(model, spec, model_card, directory=None):
  """Writes `model`'s weights (all but the classifier) and its card, atomically.

  `model_card` holds the settings, corpus, command and accuracy; the SHA-256
  of the written weights is added to it.

  Returns:
    `(weights path, card path)`.
  """
  directory = directory or WEIGHTS_DIR
  os.makedirs(directory, exist_ok=True)
  weights_path, card_path = paths(spec.arch, directory)
  arrays = {}
  for layer in model.layers:
    if layer.name == spec.classifier_layer:
      continue
    for i, variable in enumerate(layer.weights):
      arrays[f"{layer.name}/{i}"] = np.asarray(variable.numpy(), np.float32)
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  tmp = f"{weights_path}.tmp-{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(buffer.getvalue())
  os.replace(tmp, weights_path)
  model_card = dict(
    model_card,
    arch=spec.arch,
    width=spec.width,
    fc_units=spec.fc_units,
    image_size=spec.image_size,
    sha256=sha256(weights_path),
    size_bytes=os.path.getsize(weights_path),
  )
  io_utils.write_json(card_path, model_card)
  return weights_path, card_path
