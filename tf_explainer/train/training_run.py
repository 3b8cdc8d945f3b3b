"""One training run in one folder: what training a performer and an explainer share.

A `TrainingRun` owns the folder and the life of a run:

1. `claim`: takes the output folder (`io_utils.claim_dir`: an earlier folder of the same
   kind, or an empty or new one) and records the resume key, every setting that shapes
   the result plus the fingerprints of the inputs, so that an interrupted run resumes
   only under the same key (`callbacks.prepare_resume`);
2. `fit`: writes the run record (`run.json`), then `model.fit` with the callbacks every
   run has: Keras's `BackupAndRestore` (resume from the last finished epoch), a stop at
   the first non-finite loss or weight that keeps the last good checkpoint, throughput
   and learning rate in the logs, the caller's callbacks and TensorBoard; a non-finite
   loss or history is one line naming the epoch and the folder;
3. `metrics`: the last epoch's logs as floats.

Performer and explainer training (`performer_lib`, `explainer_lib`) supply only their
data, their model (whose `train_step` is the step) and how they save it.
"""

import os

import keras
import tensorflow as tf

from tf_explainer import io_utils, reproducibility
from tf_explainer.train import callbacks as callbacks_lib


class TrainingRun:
  """A run of a performer's or an explainer's settings in their `model_dir`.

  Args:
    kind: what the folder holds (`"performer"`, `"explainer"`), for `claim_dir`.
    settings: every setting of the run by name (`settings.flat`), among them
      `model_dir`, `overwrite`, `restart`, `seed`, `deterministic`, `verbose` and
      `extra_callbacks`.
    resume_free: the settings a resumed run may change (where and how it runs, not
      what it trains); every other one is in the resume key.
  """

  def __init__(self, kind, settings, resume_free):
    self.settings = dict(settings)
    self.kind = kind
    self.resume_free = tuple(resume_free)
    self.model_dir = self.settings["model_dir"]
    self.backup = os.path.join(self.model_dir, "backup")
    self.history = None

  def claim(self, inputs):
    """Claims the folder and checks or records the resume key.

    Args:
      inputs: what the run reads beyond its settings, as JSON-able values (absolute
        paths and fingerprints of the data and models).

    Returns:
      the epoch the run starts at: 0, or the first unfinished one of an interrupted run.
    """
    s = self.settings
    io_utils.claim_dir(self.model_dir, self.kind, "model_dir", s["overwrite"])
    key = {name: value for name, value in s.items() if name not in self.resume_free}
    key.update(inputs)
    callbacks_lib.prepare_resume(self.model_dir, key, s["restart"])
    return callbacks_lib.resume_epoch(self.backup)

  def fit(
    self, model, data, *, epochs, steps_per_epoch, images_per_epoch, first=(), own=(), **fit_kwargs
  ):
    """`model.fit(data)` with the run's callbacks; returns the Keras `History`.

    Args:
      model: a compiled Keras model; its `train_step` is the training step.
      data: the training batches of every remaining epoch (`data.pipeline.epochs`).
      epochs, steps_per_epoch: as `fit`'s.
      images_per_epoch: for the throughput in the logs.
      first: callbacks that run before the backup of each epoch (their state goes into it).
      own: the trainer's own callbacks, after the non-finite stop.
      **fit_kwargs: more arguments of `fit` (`validation_data`).

    Raises:
      FloatingPointError: a non-finite loss or weight; one line naming the epoch, the step
        and the folder whose checkpoint is kept.
    """
    s = self.settings
    reproducibility.write_record(self.model_dir, s["seed"], s["deterministic"])
    stop = callbacks_lib.StopOnNonFinite(self.model_dir)
    callbacks = [
      *first,
      keras.callbacks.BackupAndRestore(self.backup, double_checkpoint=True),
      stop,
      *own,
      callbacks_lib.ThroughputAndLearningRate(images_per_epoch),
      *s["extra_callbacks"],
      keras.callbacks.TensorBoard(os.path.join(self.model_dir, "logs")),
    ]
    try:
      self.history = model.fit(
        data,
        shuffle=False,  # the pipeline shuffles (one seed per epoch); Keras warns otherwise
        epochs=epochs,
        verbose=io_utils.progress_verbosity(s["verbose"]),
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        **fit_kwargs,
      )
    except tf.errors.InvalidArgumentError as e:  # tf.debugging checks inside the step
      if "NaN or Inf" not in str(e):
        raise
      raise stop.error("NaN or Inf reached the model's maps") from None
    callbacks_lib.check_finite(self.history, self.model_dir)
    return self.history

  def metrics(self):
    """The last epoch's logs: `{name: float}`."""
    return {k: float(v[-1]) for k, v in self.history.history.items()}
