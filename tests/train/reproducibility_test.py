"""Same seed, same weights: performer and explainer training, with and without a resume."""

import json
import os
import re
import shutil
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from tests import tiny_run
from tf_explainer import data as data_lib
from tf_explainer import reproducibility
from tf_explainer.data import synthetic
from tf_explainer.models import io as model_io
from tf_explainer.train import explainer_lib, performer_lib

PERFORMER = dict(tiny_run.PERFORMER, epochs=3, deterministic=True)
EXPLAINER = dict(tiny_run.EXPLAINER, epochs=3, monitor_every=0, deterministic=True)


class _StopAfter(keras.callbacks.Callback):
  """Ends training with an error after `epoch` epochs, as a kill would (the backup is saved)."""

  def __init__(self, epoch):
    super().__init__()
    self.epoch = epoch

  def on_epoch_end(self, epoch, logs=None):
    if epoch + 1 == self.epoch:
      raise KeyboardInterrupt(f"stopped after epoch {self.epoch}")


class _Steps(keras.callbacks.Callback):
  """Counts the training steps of the first epoch."""

  steps, done = 0, False

  def on_train_batch_end(self, batch, logs=None):
    if not self.done:
      self.steps = batch + 1

  def on_epoch_end(self, epoch, logs=None):
    self.done = True


class _Rates(keras.callbacks.Callback):
  """Collects the learning rate logged at each epoch's end."""

  def __init__(self):
    super().__init__()
    self.values = []

  def on_epoch_end(self, epoch, logs=None):
    self.values.append(logs["learning_rate"])


def _weights(model):
  return [np.asarray(w) for w in model.get_weights()]


class ReproducibilityTest(tf.test.TestCase):
  def assert_same_weights(self, first, second):
    self.assertEqual(len(first), len(second))
    for a, b in zip(first, second):
      self.assertAllEqual(a, b)

  def assert_different_weights(self, first, second):
    self.assertTrue(any(not np.array_equal(a, b) for a, b in zip(first, second)))

  def train_performer(self, seed=0, callbacks=(), model_dir=None, **kwargs):
    model_dir = model_dir or tempfile.mkdtemp()
    model, _, _ = performer_lib.run(
      dataset_dir=tiny_run.paths()["data"],
      model_dir=model_dir,
      seed=seed,
      extra_callbacks=callbacks,
      **dict(PERFORMER, **kwargs),
    )
    return _weights(model), model_dir

  def train_explainer(self, seed=0, callbacks=(), model_dir=None, **kwargs):
    model_dir = model_dir or tempfile.mkdtemp()
    p = tiny_run.paths()
    explainer, _ = explainer_lib.run(
      performer_dir=p["performer"],
      dataset_dir=p["data"],
      model_dir=model_dir,
      seed=seed,
      extra_callbacks=callbacks,
      **dict(EXPLAINER, **kwargs),
    )
    return _weights(explainer), model_dir

  def test_performer_same_seed_same_weights(self):
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      first, model_dir = self.train_performer()
    self.assertFalse([w for w in caught if "shuffle" in str(w.message)])  # the pipeline shuffles
    second, _ = self.train_performer()
    self.assert_same_weights(first, second)
    self.assert_different_weights(first, self.train_performer(seed=1)[0])
    with open(os.path.join(model_dir, reproducibility.RECORD_FILE)) as f:
      record = json.load(f)
    self.assertEqual((record["seed"], record["deterministic"]), (0, True))
    self.assertEqual(record["versions"]["tensorflow"], tf.__version__)
    self.assertTrue(record["cpu"]["model"])

  def assert_resumed_equals_uninterrupted(self, train):
    """`train` stopped after epoch 1 and run again ends where an uninterrupted run does."""
    uninterrupted, _ = train()
    model_dir = tempfile.mkdtemp()
    with self.assertRaises(KeyboardInterrupt):
      train(callbacks=[_StopAfter(1)], model_dir=model_dir)
    resumed, _ = train(model_dir=model_dir)
    self.assert_same_weights(uninterrupted, resumed)

  def test_performer_resumed_equals_uninterrupted(self):
    self.assert_resumed_equals_uninterrupted(self.train_performer)

  def test_performer_cosine_schedule_decays_and_resumes_exactly(self):
    cosine = dict(learning_rate_schedule="cosine")
    rates = _Rates()
    self.train_performer(callbacks=[rates], **cosine)
    lr = PERFORMER.get("learning_rate", 1e-3)
    # Three epochs: after epoch k the rate is lr * (1 + cos(pi k / 3)) / 2.
    self.assertAllClose(rates.values, [0.75 * lr, 0.25 * lr, 0.0], atol=1e-9)
    self.assert_resumed_equals_uninterrupted(lambda **k: self.train_performer(**cosine, **k))
    model_dir = tempfile.mkdtemp()
    with self.assertRaises(KeyboardInterrupt):
      self.train_performer(callbacks=[_StopAfter(1)], model_dir=model_dir, **cosine)
    # The schedule's length is part of the run: a resume may not change the epochs.
    with self.assertRaisesRegex(ValueError, r"\(epochs: 3 then, 4 now\)"):
      self.train_performer(model_dir=model_dir, epochs=4, **cosine)

  def test_performer_warmup_rises_then_follows_its_schedule_and_resumes_exactly(self):
    lr = PERFORMER.get("learning_rate", 1e-3)
    # Two of three epochs of warmup: after epoch 1 half the rate, after epoch 2 all of it;
    # then the schedule runs over the one epoch left.
    for schedule, expected in (("constant", [0.5, 1.0, 1.0]), ("cosine", [0.5, 1.0, 0.0])):
      rates = _Rates()
      self.train_performer(callbacks=[rates], warmup_epochs=2, learning_rate_schedule=schedule)
      self.assertAllClose(rates.values, [lr * e for e in expected], atol=1e-9)
    self.assert_resumed_equals_uninterrupted(
      lambda **k: self.train_performer(warmup_epochs=2, learning_rate_schedule="cosine", **k)
    )
    with self.assertRaisesRegex(ValueError, r"^warmup_epochs=3 leaves no epoch .*epochs=3"):
      self.train_performer(warmup_epochs=3)

  def test_performer_freeze_through_keeps_those_layers(self):
    class _Start(keras.callbacks.Callback):
      def on_train_begin(self, logs=None):
        self.weights = {n: _weights(self.model.get_layer(n)) for n in ("conv2", "conv3")}

    start = _Start()
    _, model_dir = self.train_performer(callbacks=[start], freeze_through="conv2")
    saved, _ = model_io.load_performer(model_dir)
    self.assert_same_weights(start.weights["conv2"], _weights(saved.get_layer("conv2")))
    self.assert_different_weights(start.weights["conv3"], _weights(saved.get_layer("conv3")))
    self.assertEqual(
      [layer.name for layer in saved.layers if layer.weights and not layer.trainable],
      ["conv1", "conv2"],
    )
    # What it prints and returns: the frozen layers that hold weights.
    self.assertEqual(performer_lib.freeze_through(saved, "pool2"), ["conv1", "conv2"])
    self.assertEqual(performer_lib.freeze_through(saved, None), [])
    with self.assertRaisesRegex(ValueError, r"^freeze_through=conv9 is not a layer .*'conv5'"):
      self.train_performer(freeze_through="conv9")

  def test_performer_label_smoothing_trains_repeatably(self):
    plain, _ = self.train_performer()
    smoothed, _ = self.train_performer(label_smoothing=0.1)
    self.assert_different_weights(plain, smoothed)
    self.assert_same_weights(smoothed, self.train_performer(label_smoothing=0.1)[0])
    with self.assertRaisesRegex(ValueError, r"^label_smoothing=1.0: expected a value in \[0, 1\)"):
      self.train_performer(label_smoothing=1.0)

  def test_performer_learns_from_images_a_teacher_labels(self):
    p = tiny_run.paths()
    unlabeled = os.path.join(tempfile.mkdtemp(), "unlabeled")
    synthetic.generate(unlabeled, 12, image_size=64, seed=1, train_fraction=1.0, progress=False)
    images = data_lib.read_checked(unlabeled, verbose=0)
    data = data_lib.read_checked(p["data"], verbose=0)
    classes = [str(c) for c in data.class_names]
    labelled = int(data_lib.split_mask(data, "train").sum())
    # The labels are the teacher's predicted classes (one batch of the same 12 images both
    # ways, so that no kernel sees another batch shape).
    teacher, spec = model_io.load_performer(p["performer"])
    batch = next(iter(data_lib.make_dataset(images, spec.image_size, batch_size=12)))
    self.assertAllEqual(
      performer_lib.teacher_labels(p["performer"], images, classes, batch_size=12),
      np.argmax(teacher(batch["images"], training=False), axis=-1),
    )
    # The images join the training set: more steps per epoch, other weights, repeatably.
    steps = _Steps()
    plain, _ = self.train_performer(callbacks=[steps])
    taught_steps = _Steps()
    taught, _ = self.train_performer(
      callbacks=[taught_steps], unlabeled_dir=unlabeled, teacher_dir=p["performer"]
    )
    batch_size = PERFORMER["batch_size"]
    self.assertEqual(steps.steps, -(-labelled // batch_size))
    self.assertEqual(taught_steps.steps, -(-(labelled + 12) // batch_size))
    self.assert_different_weights(plain, taught)
    again, _ = self.train_performer(unlabeled_dir=unlabeled, teacher_dir=p["performer"])
    self.assert_same_weights(taught, again)
    # An interrupted run resumes only with the same images and teacher.
    model_dir = tempfile.mkdtemp()
    with self.assertRaises(KeyboardInterrupt):
      self.train_performer(
        callbacks=[_StopAfter(1)],
        model_dir=model_dir,
        unlabeled_dir=unlabeled,
        teacher_dir=p["performer"],
      )
    with self.assertRaisesRegex(ValueError, r"interrupted run with other settings \(teacher: "):
      self.train_performer(model_dir=model_dir)
    with self.assertRaisesRegex(ValueError, r"^unlabeled_dir and teacher_dir go together"):
      self.train_performer(unlabeled_dir=unlabeled)
    with self.assertRaisesRegex(ValueError, r"^teacher_dir=.*: the teacher's classes \["):
      performer_lib.teacher_labels(p["performer"], images, classes[::-1])
    with self.assertRaisesRegex(ValueError, r"^teacher_dir=/nowhere holds no performer"):
      performer_lib.teacher_labels("/nowhere", images, classes)

  def test_explainer_same_seed_same_weights(self):
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      first, _ = self.train_explainer()
    second, _ = self.train_explainer()
    self.assert_same_weights(first, second)
    self.assert_different_weights(first, self.train_explainer(seed=1)[0])
    # Keras compiles nothing with XLA under op determinism; the default no longer
    # asks it to (it turned XLA off with a warning). The pipeline shuffles, not fit.
    self.assertFalse([w for w in caught if re.search("jit_compile|shuffle", str(w.message))])
    with self.assertRaisesRegex(ValueError, r"^jit_compile=True with deterministic=True: "):
      self.train_explainer(jit_compile=True)

  def test_explainer_resumed_equals_uninterrupted(self):
    self.assert_resumed_equals_uninterrupted(self.train_explainer)

  def test_resume_under_other_settings_is_refused_and_restart_starts_over(self):
    uninterrupted, _ = self.train_explainer()
    model_dir = tempfile.mkdtemp()
    with self.assertRaises(KeyboardInterrupt):
      self.train_explainer(callbacks=[_StopAfter(1)], model_dir=model_dir)
    with self.assertRaisesRegex(
      ValueError,
      r"model_dir=.* holds an interrupted run with other "
      r"settings \(learning_rate: 0.0001 then, 0.001 now\).*`restart`",
    ):
      self.train_explainer(model_dir=model_dir, learning_rate=1e-3)
    with self.assertRaisesRegex(ValueError, r"\(seed: 0 then, 1 now\)"):
      self.train_explainer(model_dir=model_dir, seed=1)
    restarted, _ = self.train_explainer(model_dir=model_dir, restart=True)  # from epoch 0
    self.assert_same_weights(uninterrupted, restarted)
    # A changed performer (same folder, retrained) is a changed setting too.
    p = tiny_run.paths()
    performer = os.path.join(tempfile.mkdtemp(), "performer")
    shutil.copytree(p["performer"], performer)
    with self.assertRaises(KeyboardInterrupt):
      explainer_lib.run(
        performer_dir=performer,
        dataset_dir=p["data"],
        model_dir=model_dir,
        extra_callbacks=[_StopAfter(1)],
        restart=True,
        **EXPLAINER,
      )
    os.utime(os.path.join(performer, "performer.keras"), (1, 1))  # rewritten in 1970
    with self.assertRaisesRegex(ValueError, r"\(performer: '\d+:\d+' then, '\d+:1000000000' now\)"):
      explainer_lib.run(
        performer_dir=performer, dataset_dir=p["data"], model_dir=model_dir, **EXPLAINER
      )

  def test_evaluation_same_numbers_and_record(self):
    from tf_explainer import evaluate_lib  # pylint: disable=import-outside-toplevel

    p = tiny_run.paths()
    runs = [
      evaluate_lib.run(
        explainer_dir=p["explainer"],
        dataset_dir=p["data"],
        output_dir=tempfile.mkdtemp(),
        make_figures=False,
        verbose=0,
        seed=3,
        deterministic=True,
      )
      for _ in range(2)
    ]
    self.assertEqual(runs[0], runs[1])
    self.assertEqual((runs[0]["run"]["seed"], runs[0]["run"]["deterministic"]), (3, True))


class RecordTest(tf.test.TestCase):
  def test_cpu_info_reads_model_and_relevant_flags(self):
    path = os.path.join(tempfile.mkdtemp(), "cpuinfo")
    with open(path, "w") as f:
      f.write(
        "processor\t: 0\nmodel name\t: Example CPU 9000\n"
        "flags\t\t: fpu sse avx2 fma avx512f avx512_bf16 amx_tile\n\nprocessor\t: 1\n"
      )
    info = reproducibility.cpu_info(path)
    self.assertEqual(info["model"], "Example CPU 9000")
    self.assertEqual(info["flags"], ["avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"])


if __name__ == "__main__":
  tf.test.main()
