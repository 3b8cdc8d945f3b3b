"""Keras callbacks shared by the training runs."""

import math
import time

import keras
import numpy as np


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


def check_finite(history, model_dir):
  """Raises a one-line error when training stopped on a NaN or Inf loss."""
  losses = history.history.get("loss", [])
  if losses and not math.isfinite(losses[-1]):
    raise FloatingPointError(
        f"Training stopped: the loss became {losses[-1]} in epoch {len(losses)}; the checkpoints "
        f"in {model_dir} are those of the last finite epoch. Lower --learning_rate or check "
        f"the data.")
