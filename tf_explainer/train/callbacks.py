"""Keras callbacks shared by the training runs."""

import json
import math
import os
import time

import keras
import numpy as np

from tf_explainer import io_utils


class ThroughputAndLearningRate(keras.callbacks.Callback):
  """Adds `images_per_second` and `learning_rate` to each epoch's logs.

  Put it before `keras.callbacks.TensorBoard` so both reach TensorBoard.
  """

  def __init__(self, images_per_epoch):
    super().__init__()
    self.images_per_epoch = images_per_epoch
    self._start = None

  def on_epoch_begin(self, epoch, logs=None):
    self._start = time.perf_counter()

  def on_epoch_end(self, epoch, logs=None):
    if logs is None:
      return
    elapsed = max(time.perf_counter() - self._start, 1e-9)
    logs["images_per_second"] = self.images_per_epoch / elapsed
    lr = self.model.optimizer.learning_rate
    logs["learning_rate"] = float(np.asarray(lr.value if hasattr(lr, "value") else lr))


class EpochKeyedRandomness(keras.callbacks.Callback):
  """Starts each epoch's dropout draws at a state set by the epoch number alone.

  `keras.callbacks.BackupAndRestore` restores weights and optimizer but not
  the counters of the model's `keras.random.SeedGenerator`s, so a resumed run
  would draw other dropout masks than an uninterrupted one. Each epoch starts
  every generator's counter at `epoch * 2**20` instead (its seed stays).
  """

  def on_epoch_begin(self, epoch, logs=None):
    for variable in self.model.non_trainable_variables:
      if variable.path.endswith("seed_generator_state"):
        seed = np.asarray(variable)[0]
        variable.assign(np.array([seed, epoch * 2**20], dtype=np.asarray(variable).dtype))


class StopAtChance(keras.callbacks.Callback):
  """Stops training once the training loss has sat at chance for `patience` epochs.

  Chance is the cross-entropy of a uniform guess, ln(`num_classes`); a loss
  within `tolerance` (relative) of it means the network predicts nothing. A
  VGG-16 without batch norm, trained from scratch in mixed_bfloat16 on 48
  classes, stayed there for a whole 30-epoch run (docs/research-log.md). After
  `fit`, `check_learning` turns the stop into a one-line error.
  """

  def __init__(self, num_classes, patience=8, tolerance=0.005):
    super().__init__()
    self.num_classes = num_classes
    self.chance = math.log(num_classes)
    self.patience = patience
    self.tolerance = tolerance
    self.epochs_at_chance = 0
    self.stopped_epoch = None

  def on_epoch_end(self, epoch, logs=None):
    loss = (logs or {}).get("loss")
    if loss is None:
      return
    at_chance = abs(float(loss) - self.chance) <= self.tolerance * self.chance
    self.epochs_at_chance = self.epochs_at_chance + 1 if at_chance else 0
    if self.epochs_at_chance >= self.patience:
      self.model.stop_training = True
      self.stopped_epoch = epoch + 1


class StopOnNonFinite(keras.callbacks.Callback):
  """Stops training at the first step whose loss is NaN or Inf, with a one-line error.

  `keras.callbacks.TerminateOnNaN` ends training normally, and `BackupAndRestore` then
  deletes its checkpoint. This one raises instead: the checkpoint of the last finished
  epoch stays in `<model_dir>/backup`, the error names the epoch and the step, and nothing
  is saved as finished.
  """

  def __init__(self, model_dir):
    super().__init__()
    self.model_dir = model_dir
    self.epoch = 0
    self.step = 0

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch = epoch

  def on_train_batch_begin(self, batch, logs=None):
    self.step = batch

  def on_train_batch_end(self, batch, logs=None):
    loss = (logs or {}).get("loss")
    if loss is not None and not math.isfinite(float(loss)):
      raise self.error(f"the loss became {float(loss)}")

  def error(self, what):
    """The `FloatingPointError` for `what` went wrong at the current epoch and step."""
    backup = os.path.join(self.model_dir, "backup")
    kept = (
      f"the checkpoint of the last finished epoch stays in {backup} (the same command "
      "resumes from it, `restart` starts over)"
      if io_utils.exists(backup)
      else "no epoch had finished, so no checkpoint was kept"
    )
    return FloatingPointError(
      f"Training stopped in epoch {self.epoch + 1}, step {self.step + 1}: {what}; {kept}. "
      "Lower `learning_rate` or check the data."
    )


def check_learning(stop_at_chance, model_dir):
  """Raises a one-line error when `stop_at_chance` (a `StopAtChance`) stopped the run."""
  if stop_at_chance.stopped_epoch is not None:
    raise ValueError(
      f"Training in {model_dir} stopped in epoch {stop_at_chance.stopped_epoch}: the training "
      f"loss stayed at chance (ln {stop_at_chance.num_classes} = "
      f"{stop_at_chance.chance:.3f}) for {stop_at_chance.patience} epochs, so the network "
      "is not learning. Try mixed_precision=float32, a lower learning_rate or another seed."
    )


def check_finite(history, model_dir):
  """Raises a one-line error when training stopped on a NaN or Inf loss."""
  losses = history.history.get("loss", [])
  if losses and not math.isfinite(losses[-1]):
    raise FloatingPointError(
      f"Training stopped: the loss became {losses[-1]} in epoch {len(losses)}; the checkpoints "
      f"in {model_dir} are those of the last finite epoch. Lower `learning_rate` or check "
      f"the data."
    )


SETTINGS_FILE = "run_settings.json"


def prepare_resume(model_dir, settings, restart=False):
  """Refuses to resume an interrupted run under other settings; `restart` starts over.

  `settings` (a JSON-able dict: inputs and every setting that shapes the
  result) is written to `<model_dir>/run_settings.json`. When `model_dir`
  holds an interrupted run (`backup/`), its recorded settings must equal
  these; otherwise a one-line error names each difference. `restart=True`
  removes the run's own `backup/` and starts from the first epoch.
  """
  backup = os.path.join(model_dir, "backup")
  path = os.path.join(model_dir, SETTINGS_FILE)
  settings = json.loads(json.dumps(settings, default=str))
  if restart:
    io_utils.rmtree(backup)
  elif io_utils.isdir(backup) and io_utils.exists(path):
    recorded = io_utils.read_json(path)
    changed = [
      key for key in sorted(set(recorded) | set(settings)) if recorded.get(key) != settings.get(key)
    ]
    if changed:
      what = "; ".join(
        f"{key}: {recorded.get(key)!r} then, {settings.get(key)!r} now" for key in changed
      )
      raise ValueError(
        f"model_dir={model_dir} holds an interrupted run with other settings "
        f"({what}): pass `restart` to start it over, or choose another "
        f"`model_dir`."
      )
  io_utils.write_json(path, settings)


def resume_epoch(backup_dir):
  """The epoch at which `keras.callbacks.BackupAndRestore(backup_dir)` resumes; 0 without one.

  The input pipeline must start at that epoch too (`data.pipeline.epochs`), so
  it is read before `fit` from the file the callback writes.
  """
  path = os.path.join(backup_dir, "training_metadata.json")
  if not io_utils.exists(path):
    return 0
  return int(io_utils.read_json(path)["epoch"])
