"""Model folders: save and load performers and explainers.

Training, evaluation and export all read models through this module.

A performer folder holds `performer.keras` and `performer.json` (its
`PerformerSpec`). An explainer folder holds `explainer.keras` (the network
alone) and `explainer.json`, a manifest naming the performer and the data it
was distilled on. Local paths in the manifest are stored relative to the
explainer folder, beside their absolute form: a folder that is moved together
with its performer (a run folder copied to another machine) loads through the
relative path, and one moved alone still finds the performer where it was.
"""

import json
import os
import zipfile

import tensorflow as tf

from tf_explainer import io_utils, performers
from tf_explainer.models.explainer import Explainer
from tf_explainer.performers.storage import (  # noqa: F401 (performer folders, re-exported)
  PERFORMER_FILE,
  PERFORMER_SPEC_FILE,
  check_finite,
  load_keras,
  load_performer,
  save_performer,
)

EXPLAINER_FILE = "explainer.keras"
MANIFEST_FILE = "explainer.json"
_PATH_KEYS = ("performer_dir", "dataset_dir", "unlabeled_dir")


def _relative(path, start):
  """`path` relative to the folder `start`, or `None` where that has no meaning (URLs)."""
  if io_utils.is_url(path) or io_utils.is_url(start):
    return None
  return os.path.relpath(os.path.abspath(path), os.path.abspath(start))


def save_explainer(
  explainer,
  model_dir,
  performer_dir,
  dataset_dir=None,
  unlabeled_dir=None,
  train_split="train",
  loss=None,
  target_layer=None,
):
  """Writes `explainer.keras` (the network) and `explainer.json` atomically.

  `explainer` is the `Explainer` network (a trainer's `.explainer`); `loss`, the settings
  of the loss it was trained with (`{name: value}`), and `target_layer`, the performer
  layer it reads where that is not the performer's target, are recorded in `explainer.json`.
  """
  if not isinstance(explainer, Explainer):
    raise TypeError(f"save_explainer takes the Explainer network, got {type(explainer).__name__}.")
  check_finite(
    explainer, f"The explainer for {model_dir}", "it was not saved; lower the learning rate"
  )
  io_utils.makedirs(model_dir)
  tmp = os.path.join(model_dir, f".{EXPLAINER_FILE}.tmp.keras")
  explainer.save(tmp)
  io_utils.rename(tmp, os.path.join(model_dir, EXPLAINER_FILE))
  manifest = {
    "train_split": train_split,
    "config": explainer.config.to_dict(),
    "loss": dict(loss or {}),
    "target_layer": target_layer or None,
    "relative": {},
  }
  for key, path in zip(_PATH_KEYS, (performer_dir, dataset_dir, unlabeled_dir)):
    manifest[key] = io_utils.absolute(path) if path else None
    if path:
      manifest["relative"][key] = _relative(path, model_dir)
  io_utils.write_json(os.path.join(model_dir, MANIFEST_FILE), manifest, default=list)


def trained_loss(manifest):
  """The loss settings an explainer was trained with, from its `explainer.json`; those of a
  folder written before the loss moved to the trainer are read from its network config."""
  from tf_explainer.models.explainer import ExplainerConfig

  return manifest.get("loss") or ExplainerConfig.legacy_loss(manifest.get("config") or {})


def manifest_path(explainer_dir, manifest, key):
  """The folder the manifest names under `key`: relative to `explainer_dir` if it is there."""
  relative = (manifest.get("relative") or {}).get(key)
  if relative is not None:
    candidate = os.path.normpath(os.path.join(explainer_dir, relative))
    if io_utils.exists(candidate):
      return candidate
  return manifest.get(key)


# The module that `.keras` files written before the explainer was split from its
# trainer (2026-11-28) name for their top-level class; they hold the training state
# too and this version cannot read them.
_OLD_EXPLAINER_MODULE = "tf_explainer.explainer"


def _saved_module(model_file):
  """The module a `.keras` file names for its top-level object, or None if unreadable."""
  try:
    with tf.io.gfile.GFile(model_file, "rb") as f, zipfile.ZipFile(f) as archive:
      return json.loads(archive.read("config.json")).get("module")
  except (zipfile.BadZipFile, KeyError, ValueError, OSError, tf.errors.OpError):
    return None


def load_explainer(explainer_dir):
  """Loads `(explainer, performer_model, performer_spec, manifest)` from an explainer folder.

  The manifest's paths come back resolved (`manifest_path`).

  Raises:
    ValueError: naming the missing file (and `explainer_dir`), or when the
      explainer does not fit the performer it names.
  """
  manifest_file = os.path.join(explainer_dir, MANIFEST_FILE)
  model_file = os.path.join(explainer_dir, EXPLAINER_FILE)
  for path in (manifest_file, model_file):
    if not io_utils.exists(path):
      raise ValueError(f"explainer_dir={explainer_dir} holds no explainer: {path} is missing.")
  manifest = io_utils.read_json(manifest_file)
  for key in _PATH_KEYS:
    manifest[key] = manifest_path(explainer_dir, manifest, key)
  if _saved_module(model_file) == _OLD_EXPLAINER_MODULE:
    raise ValueError(
      f"explainer_dir={explainer_dir}: {model_file} was written by a tf_explainer from "
      "before 2026-11-28, whose explainer held its training state; this version cannot "
      "read it: train the explainer again."
    )
  explainer = load_keras(model_file, "train the explainer again")
  if not isinstance(explainer, Explainer):
    raise ValueError(
      f"explainer_dir={explainer_dir}: {model_file} holds a "
      f"{type(explainer).__name__}, not an Explainer network (saved by an older "
      f"version? train it again)."
    )
  check_finite(explainer, f"explainer_dir={explainer_dir}", "it did not train; train it again")
  model, spec = load_performer(manifest["performer_dir"])
  spec = performers.retarget(
    model, spec, manifest.get("target_layer"), f"explainer_dir={explainer_dir}: target_layer"
  )
  target = tuple(model.get_layer(spec.target_layer).output.shape[1:])
  if tuple(explainer.config.target_shape) != target:
    raise ValueError(
      f"The explainer in {explainer_dir} expects target maps {explainer.config.target_shape}, "
      f"but the performer in {manifest['performer_dir']} ({spec.arch}) gives {target}."
    )
  return explainer, model, spec, manifest
