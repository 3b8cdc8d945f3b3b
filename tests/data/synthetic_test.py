"""Tests for tf_explainer.data.synthetic."""

import filecmp
import os
import subprocess
import sys
import tempfile
from unittest import mock

import numpy as np
import tensorflow as tf

from tf_explainer import io_utils
from tf_explainer.data import read_part_dataset, synthetic


class SyntheticTest(tf.test.TestCase):
  def test_layout_and_content(self):
    root = synthetic.generate(
      os.path.join(tempfile.mkdtemp(), "d"), 24, image_size=64, progress=False
    )
    d = read_part_dataset(root)  # also checks every image and landmark
    self.assertLen(d, 24)
    self.assertLen(d.class_names, 6)
    self.assertEqual(list(d.part_names), list(synthetic.PART_NAMES))
    self.assertAllEqual(np.bincount(d.labels), [4] * 6)
    visible = np.isfinite(d.landmarks[..., 0])
    self.assertGreater(visible.mean(), 0.5)
    rows, cols = d.landmarks[..., 0][visible], d.landmarks[..., 1][visible]
    self.assertTrue(np.all((rows >= 0) & (rows < 64) & (cols >= 0) & (cols < 64)))
    self.assertTrue(np.all(d.boxes[:, 2:] > 0))

  def test_deterministic_and_independent_of_workers(self):
    a = synthetic.generate(
      os.path.join(tempfile.mkdtemp(), "a"), 12, 48, seed=3, progress=False, num_workers=1
    )
    b = synthetic.generate(
      os.path.join(tempfile.mkdtemp(), "b"), 12, 48, seed=3, progress=False, num_workers=2
    )
    for name in ("images.txt", "bounding_boxes.txt", "parts/part_locs.txt"):
      self.assertTrue(filecmp.cmp(os.path.join(a, name), os.path.join(b, name), shallow=False))
    da, db = read_part_dataset(a), read_part_dataset(b)
    for pa, pb in zip(da.image_paths, db.image_paths):
      self.assertTrue(filecmp.cmp(pa, pb, shallow=False))

  def test_replaces_existing_atomically(self):
    out = os.path.join(tempfile.mkdtemp(), "d")
    synthetic.generate(out, 6, 48, progress=False)
    synthetic.generate(out, 12, 48, progress=False)
    self.assertLen(read_part_dataset(out), 12)
    self.assertEqual(os.listdir(os.path.dirname(out)), ["d"])

  def test_pretraining_corpus(self):
    species = synthetic.pretraining_categories()
    self.assertLen(species, 24)
    self.assertEqual(species, synthetic.pretraining_categories())  # deterministic
    self.assertEmpty(set(species) & set(synthetic.CATEGORIES))
    demo = [synthetic._shape_vector(s) for s in synthetic.CATEGORIES.values()]
    vectors = [synthetic._shape_vector(s) for s in species.values()]
    for k, v in enumerate(vectors):  # far from every demo category and from each other
      others = demo + vectors[:k]
      self.assertGreaterEqual(
        min(np.linalg.norm(v - o) for o in others), synthetic.MIN_SHAPE_DISTANCE
      )
    root = synthetic.generate(
      os.path.join(tempfile.mkdtemp(), "p"),
      48,
      48,
      progress=False,
      corpus="pretrain",
      train_fraction=0.9,
    )
    d = read_part_dataset(root)
    self.assertLen(d.class_names, 24)
    self.assertEqual([c.split(".", 1)[1] for c in d.class_names], list(species))
    self.assertAllEqual(np.bincount(d.labels), [2] * 24)
    self.assertEqual(list(d.part_names), list(synthetic.PART_NAMES))

  def test_more_species_extend_the_default_corpus(self):
    default = synthetic.CORPORA["pretrain"]
    self.assertIs(synthetic.corpus_categories("pretrain", 24), default)
    more = synthetic.corpus_categories("pretrain", 30)
    self.assertLen(more, 30)
    self.assertEqual({k: more[k] for k in default}, default)  # the first 24 are the same
    shapes = synthetic.corpus_categories("pretrain_shapes", 30)
    self.assertEqual(list(shapes), list(more))
    self.assertLen({(str(s["palette"]), s["textures"]) for s in shapes.values()}, 1)
    root = synthetic.generate(
      os.path.join(tempfile.mkdtemp(), "p"), 60, 48, progress=False, corpus="pretrain", species=30
    )
    d = read_part_dataset(root)
    self.assertAllEqual(np.bincount(d.labels), [2] * 30)
    self.assertEqual(io_utils.owner(root, "species"), 30)
    with self.assertRaisesRegex(
      ValueError, r"species=30 applies only to corpus=pretrain or pretrain_shapes, not corpus=demo"
    ):
      synthetic.generate(os.path.join(tempfile.mkdtemp(), "d"), 60, 48, species=30)
    with (
      mock.patch.object(synthetic, "MIN_SHAPE_DISTANCE", 2.0),
      self.assertRaisesRegex(ValueError, r"count=50: no room for more than \d+ species 2.0 apart"),
    ):
      synthetic.pretraining_categories(50)

  def test_shape_only_corpus_shares_appearance_and_keeps_shapes(self):
    shapes = synthetic.CORPORA["demo_shapes"]
    self.assertEqual(list(shapes), list(synthetic.CATEGORIES))
    appearances = {(str(s["palette"]), s["textures"]) for s in shapes.values()}
    self.assertLen(appearances, 1)  # one appearance for all
    for name, spec in shapes.items():
      self.assertAllEqual(
        synthetic._shape_vector(spec), synthetic._shape_vector(synthetic.CATEGORIES[name])
      )
      for colour in synthetic.CATEGORIES[name]["palette"]:
        self.assertIn(colour, spec["palette"])
    root = synthetic.generate(
      os.path.join(tempfile.mkdtemp(), "s"), 12, 48, progress=False, corpus="demo_shapes"
    )
    self.assertLen(read_part_dataset(root).class_names, 6)
    self.assertEqual(io_utils.owner(root, "corpus"), "demo_shapes")
    species = synthetic.CORPORA["pretrain_shapes"]
    self.assertEqual(list(species), list(synthetic.CORPORA["pretrain"]))
    self.assertLen({(str(s["palette"]), s["textures"]) for s in species.values()}, 1)

  def test_never_replaces_a_folder_it_did_not_write(self):
    work = tempfile.mkdtemp()
    with open(os.path.join(work, "notes.txt"), "w") as f:
      f.write("x")
    with self.assertRaisesRegex(
      ValueError,
      r"out_dir=.* is not empty .*'notes.txt'.*"
      r"`overwrite` to replace it",
    ):
      synthetic.generate(work, 6, 48, progress=False)
    self.assertEqual(os.listdir(work), ["notes.txt"])
    # From the command line, in the folder itself (as --out_dir=.): one line, nothing lost.
    result = subprocess.run(
      [
        sys.executable,
        "-m",
        "tf_explainer.data.synthetic",
        "--out_dir=.",
        "--num_images=12",
        "--image_size=48",
      ],
      capture_output=True,
      text=True,
      cwd=work,
      env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )
    self.assertEqual(result.returncode, 1, result.stderr[-2000:])
    self.assertNotIn("Traceback", result.stderr)
    self.assertIn("synthetic.py: error: --out_dir=. is not empty", result.stderr)
    self.assertEqual(os.listdir(work), ["notes.txt"])
    synthetic.generate(work, 6, 48, progress=False, overwrite=True)  # the user said so
    self.assertLen(read_part_dataset(work), 6)

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, "corpus=zoo"):
      synthetic.generate(tempfile.mkdtemp(), 30, corpus="zoo", progress=False)
    with self.assertRaisesRegex(ValueError, "num_images=3"):
      synthetic.generate(tempfile.mkdtemp(), 3, progress=False)

  def test_command_line(self):
    out = os.path.join(tempfile.mkdtemp(), "cli")
    result = subprocess.run(
      [
        sys.executable,
        "-m",
        "tf_explainer.data.synthetic",
        f"--out_dir={out}",
        "--num_images=6",
        "--image_size=48",
        "--seed=1",
      ],
      capture_output=True,
      text=True,
    )
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertLen(read_part_dataset(out), 6)


if __name__ == "__main__":
  tf.test.main()
