"""Tests for tf_explainer.performers.keras_import: the user's own Keras CNN as a performer."""

import json
import os
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tests import programs, tiny_run
from tf_explainer import evaluate_lib, export_lib, metrics
from tf_explainer.models import io as model_io
from tf_explainer.performers import keras_import
from tf_explainer.train import explainer_lib


def vgg16_with_own_head(num_classes=6, size=64):
  """A keras.applications VGG16 base with the user's Flatten-Dense-Dense-Dense head."""
  base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
  x = keras.layers.Flatten(name="flatten")(base.output)
  x = keras.layers.Dense(32, activation="relu", name="my_fc1")(x)
  x = keras.layers.Dense(24, activation="relu", name="my_fc2")(x)
  out = keras.layers.Dense(num_classes, name="my_logits")(x)
  return keras.Model(base.input, out, name="my_vgg16")


def small_sequential(num_classes=6, size=48):
  """A tutorial-style Sequential CNN with a global-average-pooling head."""
  return keras.Sequential(
    [
      keras.Input((size, size, 3)),
      keras.layers.Rescaling(1.0 / 255, name="rescale"),
      keras.layers.Conv2D(8, 3, activation="relu", name="c1"),
      keras.layers.MaxPooling2D(name="p1"),
      keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c2"),
      keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c3"),
      keras.layers.GlobalAveragePooling2D(name="gap"),
      keras.layers.Dense(num_classes, name="logits"),
    ],
    name="tutorial_cnn",
  )


def _pipeline(test, model, import_kwargs):
  """Import, an explainer for 1 epoch, evaluation, export, and a reload in a fresh process.

  `model` is a Keras 3 model (saved here as .keras) or the path of a saved one.
  """
  p = tiny_run.paths()
  root = tempfile.mkdtemp()
  if isinstance(model, str):
    model_file = model
  else:
    model_file = os.path.join(root, "model.keras")
    model.save(model_file)
  performer_dir = os.path.join(root, "performer")
  _, spec = keras_import.run(
    model=model_file, model_dir=performer_dir, dataset_dir=p["data"], verbose=0, **import_kwargs
  )
  explainer_dir = os.path.join(root, "explainer")
  explainer, _ = explainer_lib.run(
    performer_dir=performer_dir,
    dataset_dir=p["data"],
    model_dir=explainer_dir,
    epochs=1,
    batch_size=8,
    verbose=0,
    monitor_every=0,
  )
  out = os.path.join(root, "evaluation")
  result = evaluate_lib.run(
    explainer_dir=explainer_dir,
    dataset_dir=p["data"],
    output_dir=out,
    split="all",
    verbose=0,
    make_figures=False,
  )
  test.assertTrue(os.path.exists(os.path.join(out, "metrics.json")))
  test.assertTrue(0 < result["p"] < 1)
  test.assertIsNotNone(result["location_instability"]["explainer"])
  path = export_lib.run(explainer_dir=explainer_dir, export_base=os.path.join(root, "serving"))
  code = (
    "import sys, numpy as np, tensorflow as tf\n"
    "m = tf.saved_model.load(sys.argv[1])\n"
    "size = int(sys.argv[2])\n"
    "out = m.signatures['serving_default'](images=tf.constant(np.full((2, size, size, 3), 99.0,"
    " np.float32)))\n"
    "print(sorted(out), out['part_maps'].shape[0])\n"
  )
  reloaded = subprocess.run(
    [sys.executable, "-c", code, path, str(spec.image_size)],
    capture_output=True,
    text=True,
    cwd=tempfile.mkdtemp(),
  )
  test.assertEqual(reloaded.returncode, 0, reloaded.stderr[-2000:])
  line = reloaded.stdout.strip().splitlines()[-1]
  for name in spec.fc_names:  # every reconstructed layer, under its own name
    test.assertIn(repr(name), line)
  test.assertTrue(line.endswith(" 2"), line)
  return spec, explainer


class ImagePreprocessTest(tf.test.TestCase):
  def test_modes(self):
    from tf_explainer.performers.base import CaffePreprocess, ImagePreprocess

    images = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    self.assertAllClose(ImagePreprocess("caffe")(images), CaffePreprocess()(images))
    self.assertAllClose(
      ImagePreprocess("tf")(np.array([[[[0.0, 127.5, 255.0]]]])), [[[[-1, 0, 1]]]]
    )
    mean = np.array(ImagePreprocess.MEAN_RGB, np.float32) * 255.0
    self.assertAllClose(ImagePreprocess("torch")(mean[None, None, None]), np.zeros((1, 1, 1, 3)))
    self.assertAllClose(ImagePreprocess("none")(images), images)
    with self.assertRaisesRegex(ValueError, "preprocessing=bgr: expected one of"):
      ImagePreprocess("bgr")


class FromKerasTest(tf.test.TestCase):
  def test_vgg16_base_with_own_head_by_layer_names(self):
    keras.utils.set_random_seed(0)
    spec, explainer = _pipeline(
      self,
      vgg16_with_own_head(),
      {"target_layer": "block5_conv2", "preprocessing": "caffe"},
    )
    self.assertEqual(spec.top_conv_layer, "block5_conv3")
    self.assertEqual(spec.fc_layers, ("my_fc1", "my_fc2"))
    self.assertEqual(spec.fc_names, ("my_fc1", "my_fc2"))
    self.assertEqual(spec.fc_sizes, (32, 24))
    self.assertEqual(spec.classifier_layer, "my_logits")
    self.assertEqual(spec.last_pool["pool_size"], (2, 2))
    self.assertEqual(spec.image_size, 64)
    self.assertEqual(spec.class_names[0], "001.bird")
    self.assertEqual(tuple(explainer.config.fc_sizes), (32, 24))

  def test_sequential_cnn_with_global_pooling_head(self):
    keras.utils.set_random_seed(0)
    spec, explainer = _pipeline(self, small_sequential(), {"target_layer": "c2"})
    self.assertEqual(spec.top_conv_layer, "c3")
    self.assertEqual(spec.fc_layers, ("gap",))
    self.assertEqual(spec.fc_names, ("gap",))
    self.assertEqual(spec.fc_sizes, (16,))
    self.assertIsNone(spec.last_pool)
    self.assertFalse(spec.fc_reads_top_conv)
    self.assertEqual(explainer.config.target_shape, (23, 23, 16))

  def test_receptive_field_mapping_of_imported_models(self):
    mapping = metrics.unit_mapping(vgg16_with_own_head(), "block5_conv2")
    self.assertEqual(mapping.stride, (16, 16))
    self.assertEqual(mapping.center, (7.5, 7.5))  # 16 u + 7.5, as VGG-16's block5 at any size
    seq = metrics.unit_mapping(small_sequential(), "c2")
    self.assertEqual(seq.stride, (2, 2))
    self.assertEqual(seq.center, (1.5, 1.5))  # c1 (valid 3x3): 1, then pool 2/2: 1 + 0.5

  def test_errors_name_what_was_expected(self):
    model = small_sequential()
    cases = (
      (
        {"target_layer": "nope"},
        r"target_layer=nope: the model has no such layer; candidates: c1, c2, c3",
      ),
      ({"target_layer": "gap"}, r"target_layer=gap: output shape \(None, 16\) is not a square map"),
      (
        {"target_layer": "c2", "classifier_layer": "x"},
        r"classifier_layer=x: the model has no such",
      ),
      (
        {"target_layer": "c2", "preprocessing": "imagenet"},
        r"preprocessing=imagenet: expected one",
      ),
    )
    for kwargs, pattern in cases:
      with self.assertRaisesRegex(ValueError, pattern):
        keras_import.from_keras(model, verbose=0, **kwargs)
    dense_in = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)])
    with self.assertRaisesRegex(ValueError, r"input shape \(None, 10\) is not an image batch"):
      keras_import.from_keras(dense_in, "dense", verbose=0)

  def test_no_conv_after_the_target_is_said_and_allowed(self):
    model = small_sequential()
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
      spec = keras_import.from_keras(model, "c3")
    self.assertEqual(spec.top_conv_layer, "c3")
    self.assertIn("no conv layer after the target", out.getvalue())

  def test_model_round_tripped_through_a_saved_model(self):
    """A tf.keras (Keras 2) model saved as a SavedModel folder: the whole pipeline."""
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    legacy = tf_keras.Sequential(
      [
        tf_keras.Input((48, 48, 3)),
        tf_keras.layers.Rescaling(1.0 / 255, name="rescale"),
        tf_keras.layers.Conv2D(8, 3, activation="relu", name="c1"),
        tf_keras.layers.MaxPooling2D(name="p1"),
        tf_keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c2"),
        tf_keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c3"),
        tf_keras.layers.Flatten(name="flat"),
        tf_keras.layers.Dense(12, activation="relu", name="feat"),
        tf_keras.layers.Dense(6, name="logits"),
      ],
      name="legacy_cnn",
    )
    folder = os.path.join(tempfile.mkdtemp(), "saved_model")
    legacy.save(folder)  # tf.keras writes a SavedModel folder for a path without extension
    self.assertTrue(os.path.exists(os.path.join(folder, "saved_model.pb")))
    spec, _ = _pipeline(self, folder, {"target_layer": "c2"})
    self.assertEqual(
      (spec.top_conv_layer, spec.fc_layers, spec.classifier_layer), ("c3", ("feat",), "logits")
    )
    images = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 3)).astype(np.float32)
    imported = keras_import.load_user_model(folder)
    self.assertAllClose(imported(images), legacy(images), rtol=1e-5, atol=1e-5)

  def test_saved_model_without_keras_layers_is_refused_with_the_reason(self):
    root = tempfile.mkdtemp()
    small_sequential().export(os.path.join(root, "saved"), verbose=False)
    with self.assertRaisesRegex(ValueError, r"model=.*saved is a SavedModel without Keras layers"):
      keras_import.run(
        model=os.path.join(root, "saved"),
        model_dir=os.path.join(root, "p"),
        target_layer="c2",
        verbose=0,
      )

  def test_program_writes_a_performer_folder(self):
    root = tempfile.mkdtemp()
    small_sequential().save(os.path.join(root, "m.keras"))
    result = programs.run(
      "training/import_performer.py",
      f"--model={root}/m.keras",
      f"--model_dir={root}/performer",
      "--target_layer=c2",
    )
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertIn("Imported tutorial_cnn: target c2 (23, 23, 16)", result.stdout)
    _, spec = model_io.load_performer(f"{root}/performer")
    self.assertEqual(spec.arch, "keras")
    with open(f"{root}/performer/config.json") as f:
      self.assertEqual(json.load(f)["target_layer"], "c2")
    bad = programs.run(
      "training/import_performer.py",
      f"--model={root}/m.keras",
      f"--model_dir={root}/other",
      "--target_layer=c9",
    )
    self.assertEqual(bad.returncode, 1)
    self.assertNotIn("Traceback", bad.stderr)
    self.assertIn(
      "import_performer.py: error: --target_layer=c9: the model has no such layer", bad.stderr
    )
    self.assertFalse(os.path.exists(f"{root}/other"))


if __name__ == "__main__":
  np.random.seed(0)
  tf.test.main()
