"""Faults in the user's files and models: F1 (an image that is not what it says), F2 (a
non-finite model), F9 (a full disk while writing), and out-of-range serving requests."""

import os
import re
import shutil
import tempfile
from unittest import mock

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from tests import programs, tiny_run
from tf_explainer import data as data_lib
from tf_explainer import export_lib, io_utils
from tf_explainer.models import io as model_io
from tf_explainer.train import callbacks as callbacks_lib


def _copy_with_a_tiff():
  """A copy of the tiny dataset whose first image is a TIFF under its `.jpg` name."""
  root = os.path.join(tempfile.mkdtemp(), "data")
  shutil.copytree(tiny_run.paths()["data"], root)
  dataset = data_lib.read_part_dataset(root, check_images=False)
  path = str(dataset.image_paths[0])
  Image.open(path).convert("RGB").save(path, format="TIFF")
  return root, path


class DataAndModelFaultsTest(tf.test.TestCase):
  def test_f1_tiff_named_jpg_is_named_and_skippable(self):
    root, path = _copy_with_a_tiff()
    with self.assertRaisesRegex(data_lib.DatasetError, rf"{path}: image cannot be decoded"):
      data_lib.read_part_dataset(root)
    skipped = data_lib.read_checked(root, on_error="skip", verbose=0)
    self.assertEqual(skipped.skipped, 1)
    self.assertNotIn(path, list(skipped.image_paths))
    model_dir = os.path.join(tempfile.mkdtemp(), "p_tiff")
    result = programs.run(
      "training/train_performer.py",
      f"--dataset_dir={root}",
      f"--model_dir={model_dir}",
      "--epochs=1",
      "--arch=alexnet",
      "--image_size=115",
      "--width=0.125",
      "--fc_units=16",
    )
    self.assertNotEqual(result.returncode, 0)
    lines = result.stderr.strip().splitlines()
    self.assertLen(lines, 1, result.stderr[-2000:])
    self.assertIn(f"{path}: image cannot be decoded", lines[0])
    self.assertFalse(os.path.exists(model_dir))  # nothing left behind

  def test_an_empty_image_is_named_in_plain_words(self):
    root, path = _copy_with_a_tiff()
    open(path, "w").close()  # zero bytes
    with self.assertRaises(data_lib.DatasetError) as raised:
      data_lib.read_part_dataset(root)
    message = str(raised.exception)
    # The decoder's own words vary with the TensorFlow build; ours are fixed.
    self.assertRegex(message, rf"^{re.escape(path)}: image cannot be decoded \(\w[^()]*\)\.$")
    for noise in ("np.str_", "{{", "[Op:"):
      self.assertNotIn(noise, message)

  def test_f2_non_finite_explainer_is_never_saved_or_loaded(self):
    explainer, _, _, manifest = model_io.load_explainer(tiny_run.paths()["explainer"])
    kernel = explainer.weights[0]
    good = kernel.numpy()
    kernel.assign(np.full(good.shape, np.nan, good.dtype))
    try:
      target = os.path.join(tempfile.mkdtemp(), "broken")
      with self.assertRaisesRegex(ValueError, r"holds \d+ of \d+ weights that are NaN or Inf"):
        model_io.save_explainer(explainer, target, manifest["performer_dir"])
      self.assertFalse(os.path.exists(os.path.join(target, model_io.EXPLAINER_FILE)))
    finally:
      kernel.assign(good)
    # A folder whose explainer is not finite (written by an older version) is refused too.
    folder = os.path.join(tempfile.mkdtemp(), "explainer")
    shutil.copytree(tiny_run.paths()["explainer"], folder)
    with mock.patch.object(model_io, "check_finite", lambda *a: None):
      kernel.assign(np.full(good.shape, np.inf, good.dtype))
      try:
        model_io.save_explainer(explainer, folder, manifest["performer_dir"])
      finally:
        kernel.assign(good)
    with self.assertRaisesRegex(ValueError, r"explainer_dir=.* weights that are NaN or Inf"):
      model_io.load_explainer(folder)

  def test_first_non_finite_loss_stops_with_epoch_step_and_kept_checkpoint(self):
    """Epoch 1 is clean; in epoch 2 the fourth batch of inputs is NaN."""
    model_dir = tempfile.mkdtemp()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((16, 3), "float32")
    poisoned = x.copy()
    poisoned[12:16] = np.nan  # batch 4 of 4 (batch size 4)
    data = tf.data.Dataset.from_tensor_slices((np.concatenate([x, poisoned]), np.zeros((32, 2))))
    stop = callbacks_lib.StopOnNonFinite(model_dir)
    backup = keras.callbacks.BackupAndRestore(os.path.join(model_dir, "backup"))
    with self.assertRaisesRegex(
      FloatingPointError,
      r"Training stopped in epoch 2, step 4: the loss became nan; the checkpoint of the last "
      r"finished epoch stays in .*backup",
    ):
      model.fit(
        data.batch(4),
        epochs=2,
        steps_per_epoch=4,
        shuffle=False,
        verbose=0,
        callbacks=[backup, stop],
      )
    self.assertTrue(os.path.isdir(os.path.join(model_dir, "backup")))  # kept, not deleted

  def test_f9_full_disk_leaves_no_temporary_file(self):
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "figure.png")

    class FullDisk(tf.io.gfile.GFile):
      def write(self, data):
        super().write(data[:10])
        raise OSError(28, "No space left on device")

    with mock.patch.object(tf.io.gfile, "GFile", FullDisk):
      with self.assertRaisesRegex(OSError, "No space left"):
        io_utils.write_atomically(path, b"x" * 100, "wb")
    self.assertEqual(os.listdir(folder), [])

  def test_serving_refuses_values_out_of_range(self):
    explainer, model, spec, _ = model_io.load_explainer(tiny_run.paths()["explainer"])
    module = export_lib.ServingModule(model, spec, explainer)
    size = spec.image_size
    module.serve(tf.fill([1, size, size, 3], 255.0))  # in range
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, r"images must be RGB values"):
      module.serve(tf.fill([1, size, size, 3], 1e30))


if __name__ == "__main__":
  tf.test.main()
