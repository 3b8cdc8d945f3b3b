"""The Python API: the seven calls of the README, on tiny synthetic data."""

import doctest
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

import tf_explainer as tfe
from tests import tiny_run
from tf_explainer import api
from tf_explainer import data as data_lib


def _user_cnn(size=64):
  """A user's own small Keras CNN: two classes, logits out."""
  inputs = keras.Input((size, size, 3))
  x = keras.layers.Rescaling(1 / 255)(inputs)
  x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(x)
  x = keras.layers.MaxPooling2D(2)(x)
  x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
  x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv3")(x)
  x = keras.layers.MaxPooling2D(2, name="pool")(x)
  x = keras.layers.Flatten()(x)
  x = keras.layers.Dense(16, activation="relu", name="fc")(x)
  return keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))


def _jpeg_folder():
  """The tiny run's images as a plain folder of unannotated JPEGs."""
  source = data_lib.read_part_dataset(tiny_run.paths()["data"], check_images=False)
  root = tempfile.mkdtemp()
  for i, path in enumerate(source.image_paths):
    shutil.copy(path, os.path.join(root, f"photo_{i:03d}.jpg"))
  return root


class ApiTest(tf.test.TestCase):
  def test_docstring_examples_run(self):
    for obj in (api.Explainer,):
      finder = doctest.DocTestFinder(recurse=False)
      runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
      for test in finder.find(obj, globs={}):
        runner.run(test)
      self.assertGreater(runner.tries, 5)
      self.assertEqual(runner.failures, 0)

  def test_seven_calls_on_a_users_cnn_and_a_folder_of_jpegs(self):
    work = tempfile.mkdtemp()
    explainer = tfe.Explainer.from_performer(_user_cnn(), target_layer="conv2", verbose=0)
    metrics = explainer.fit(_jpeg_folder(), epochs=1, batch_size=8, verbose=0)
    self.assertIn("filter_loss", metrics)
    images = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype("float32")
    out = explainer.explain(images)
    self.assertEqual(out["part_maps"].shape, (3, 31, 31, 8))
    self.assertEqual(out["class_scores"].shape, (3, 2))
    self.assertEqual(out["p"].shape, (3,))
    self.assertIn("fc", out)  # the reconstructed layer, by its name in the user's model
    path = explainer.save(os.path.join(work, "my_explainer"))
    shutil.rmtree(explainer.work_dir)  # the saved folder stands alone
    loaded = tfe.load_explainer(path, verbose=0)
    self.assertAllClose(loaded.explain(images)["part_maps"], out["part_maps"], atol=1e-5)
    metrics = loaded.evaluate(tiny_run.paths()["data"], make_figures=False, verbose=0)
    self.assertIn("part_tracking", metrics)
    self.assertIn("explainer", metrics["location_instability"])
    version = loaded.export(os.path.join(work, "serving", "mine"), version=1)
    self.assertTrue(os.path.exists(os.path.join(version, "saved_model.pb")))

  def test_fit_takes_arrays_and_datasets_and_a_performer_folder(self):
    explainer = tfe.Explainer.from_performer(tiny_run.paths()["performer"], verbose=0)
    images = np.random.default_rng(1).uniform(0, 255, (16, 115, 115, 3))
    explainer.fit(images, epochs=1, batch_size=8, verbose=0)
    pairs = tf.data.Dataset.from_tensor_slices((images, np.zeros(16))).batch(4)
    folders = sorted(f for f in os.listdir(explainer.work_dir) if f.startswith("images-"))
    self.assertLen(folders, 1)
    # The same images as a dataset of (images, labels): the same folder, so fit resumes.
    self.assertEqual(explainer._write_images(pairs), os.path.join(explainer.work_dir, folders[0]))
    with self.assertRaisesRegex(ValueError, r"data: expected a folder, a tf.data.Dataset"):
      explainer.fit(np.zeros((4, 8, 8)), epochs=1)

  def test_untrained_and_wrong_performer_are_one_line(self):
    with self.assertRaisesRegex(ValueError, r"performer=.* holds no performer"):
      tfe.Explainer.from_performer(tempfile.mkdtemp())
    explainer = tfe.Explainer.from_performer(tiny_run.paths()["performer"], verbose=0)
    with self.assertRaisesRegex(ValueError, "not trained yet: call fit first"):
      explainer.explain(np.zeros((1, 115, 115, 3)))


if __name__ == "__main__":
  tf.test.main()
