"""Performer folders: `performer.keras` and `performer.json` (its `PerformerSpec`).

Below `models.io`, which adds explainer folders, so that the performers' own
programs (the Keras import) can write a performer folder without reaching up.
"""

import os
import zipfile

import keras
import tensorflow as tf

from tf_explainer import io_utils
from tf_explainer.performers.base import PerformerSpec

PERFORMER_FILE = "performer.keras"
PERFORMER_SPEC_FILE = "performer.json"


def non_finite_weights(model):
  """`(non-finite values, all values)` over the weights of a Keras model or layer."""
  import numpy as np

  bad = total = 0
  for weight in model.weights:
    values = np.asarray(weight.numpy())
    if np.issubdtype(values.dtype, np.floating):
      bad += int(values.size - np.count_nonzero(np.isfinite(values)))
      total += values.size
  return bad, total


def check_finite(model, what, remedy):
  """Raises a one-line error when `model` holds NaN or Inf weights (`what` names it)."""
  bad, total = non_finite_weights(model)
  if bad:
    raise ValueError(f"{what} holds {bad} of {total} weights that are NaN or Inf; {remedy}.")


def save_performer(model, spec, directory):
  """Writes `performer.keras` and `performer.json` into `directory`, atomically per file.

  A model with NaN or Inf weights is refused: nothing broken is saved as finished.
  """
  check_finite(model, f"The performer for {directory}", "it was not saved; lower the learning rate")
  io_utils.makedirs(directory)
  tmp_model = os.path.join(directory, f".{PERFORMER_FILE}.tmp.keras")
  model.save(tmp_model)
  io_utils.rename(tmp_model, os.path.join(directory, PERFORMER_FILE))
  io_utils.write_json(os.path.join(directory, PERFORMER_SPEC_FILE), spec.to_dict())


def load_performer(directory, flag="performer_dir"):
  """Loads `(model, spec)` saved by `save_performer`.

  Raises:
    ValueError: when `directory` holds no performer (names `flag`).
  """
  model_path = os.path.join(directory, PERFORMER_FILE)
  spec_path = os.path.join(directory, PERFORMER_SPEC_FILE)
  for path in (model_path, spec_path):
    if not io_utils.exists(path):
      raise ValueError(f"{flag}={directory} holds no performer: {path} is missing.")
  spec = PerformerSpec.from_dict(io_utils.read_json(spec_path))
  model = load_keras(model_path, "train or import the performer again")
  return model, spec


def load_keras(path, remedy):
  """`keras.saving.load_model(path)`, or one line saying the file is damaged.

  Keras reports a truncated `.keras` archive as "File not found", although the
  file is there.
  """
  try:
    return keras.saving.load_model(path)
  except (ValueError, OSError, EOFError, zipfile.BadZipFile, tf.errors.OpError) as e:
    if not zipfile.is_zipfile(path) or "not found" in str(e).lower():
      raise ValueError(
        f"{path} is damaged or truncated (not a complete .keras archive); {remedy}."
      ) from None
    raise
