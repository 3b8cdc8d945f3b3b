"""Tests for tf_explainer.models.io: model folders that can be moved."""

import json
import os
import shutil
import tempfile
import zipfile

import numpy as np
import tensorflow as tf

from tests import tiny_run
from tf_explainer import evaluate_lib, export_lib
from tf_explainer.models import io as model_io


def _moved_run(drop_absolute):
  """The tiny run's performer and explainer copied side by side to a new folder.

  With `drop_absolute`, the manifest's absolute paths name a machine that is
  not this one, as after copying the folder elsewhere.
  """
  p = tiny_run.paths()
  root = tempfile.mkdtemp()
  for name in ("performer", "explainer"):
    shutil.copytree(
      p[name],
      os.path.join(root, "run", name),
      ignore=shutil.ignore_patterns("feature_cache", "backup", "logs"),
    )
  if drop_absolute:
    path = os.path.join(root, "run", "explainer", model_io.MANIFEST_FILE)
    with open(path) as f:
      manifest = json.load(f)
    for key in ("performer_dir", "dataset_dir"):
      manifest[key] = f"/elsewhere/{key}"
    with open(path, "w") as f:
      json.dump(manifest, f)
  return p, os.path.join(root, "run")


class ModelFolderTest(tf.test.TestCase):
  def test_manifest_stores_paths_relative_to_the_explainer(self):
    p = tiny_run.paths()
    with open(os.path.join(p["explainer"], model_io.MANIFEST_FILE)) as f:
      manifest = json.load(f)
    self.assertEqual(manifest["relative"]["performer_dir"], os.path.join("..", "performer"))
    self.assertEqual(manifest["performer_dir"], os.path.abspath(p["performer"]))

  def test_moved_explainer_folder_loads_evaluates_and_exports(self):
    p, run = _moved_run(drop_absolute=True)
    explainer, _, spec, manifest = model_io.load_explainer(os.path.join(run, "explainer"))
    self.assertEqual(manifest["performer_dir"], os.path.join(run, "performer"))
    original, _, _, _ = model_io.load_explainer(p["explainer"])
    maps = np.random.default_rng(0).random((2,) + explainer.config.target_shape).astype("float32")
    self.assertAllClose(explainer(maps)["part_maps"], original(maps)["part_maps"])
    out = os.path.join(run, "evaluation")
    metrics = evaluate_lib.run(
      explainer_dir=os.path.join(run, "explainer"),
      dataset_dir=p["data"],
      output_dir=out,
      verbose=0,
      make_figures=False,
    )
    self.assertTrue(os.path.exists(os.path.join(out, "metrics.json")))
    self.assertTrue(0 < metrics["p"] < 1)
    path = export_lib.run(
      explainer_dir=os.path.join(run, "explainer"), export_base=os.path.join(run, "export")
    )
    self.assertTrue(os.path.exists(os.path.join(path, "saved_model.pb")))
    self.assertEqual(spec.fc_names[-1], "fc7")

  def test_explainer_moved_alone_finds_the_performer_where_it_was(self):
    p = tiny_run.paths()
    alone = os.path.join(tempfile.mkdtemp(), "deeper", "explainer")
    shutil.copytree(
      p["explainer"], alone, ignore=shutil.ignore_patterns("feature_cache", "backup", "logs")
    )
    _, _, _, manifest = model_io.load_explainer(alone)
    self.assertEqual(manifest["performer_dir"], os.path.abspath(p["performer"]))

  def test_missing_performer_names_the_parameter(self):
    with self.assertRaisesRegex(ValueError, r"^performer_dir=.* holds no performer"):
      model_io.load_performer(tempfile.mkdtemp())
    with self.assertRaisesRegex(ValueError, r"^explainer_dir=.* holds no explainer"):
      model_io.load_explainer(tempfile.mkdtemp())

  def test_explainer_of_the_old_format_is_refused_in_one_line(self):
    """A `.keras` file from before the explainer was split from its trainer names its
    old module; loading it says so and what to do, not Keras's variable-count error."""
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, model_io.MANIFEST_FILE), "w") as f:
      json.dump({"performer_dir": folder}, f)
    with zipfile.ZipFile(os.path.join(folder, model_io.EXPLAINER_FILE), "w") as archive:
      config = {"module": "tf_explainer.explainer", "class_name": "Explainer", "config": {}}
      archive.writestr("config.json", json.dumps(config))
    with self.assertRaisesRegex(ValueError, r"^explainer_dir=.*before 2026-11-28.*train the"):
      model_io.load_explainer(folder)


if __name__ == "__main__":
  tf.test.main()
