"""Tests for tf_explainer.io_utils: folders we did not write are never written over."""

import os
import tempfile

import tensorflow as tf

from tf_explainer import io_utils


class ClaimDirTest(tf.test.TestCase):
  def test_new_empty_and_own_folders_are_claimed(self):
    root = tempfile.mkdtemp()
    new = io_utils.claim_dir(os.path.join(root, "a", "b"), "performer", "model_dir")
    self.assertEqual(io_utils.owner(new), "performer")
    with open(os.path.join(new, "performer.keras"), "w") as f:
      f.write("x")
    io_utils.claim_dir(new, "performer", "model_dir")  # its own earlier output: resumes
    empty = tempfile.mkdtemp()
    io_utils.claim_dir(empty, "explainer", "model_dir")
    self.assertEqual(io_utils.owner(empty), "explainer")
    legacy = tempfile.mkdtemp()  # written before the owner file existed
    with open(os.path.join(legacy, "explainer.json"), "w") as f:
      f.write("{}")
    io_utils.claim_dir(legacy, "explainer", "model_dir")

  def test_foreign_folders_are_refused_unless_overwrite(self):
    user = tempfile.mkdtemp()
    with open(os.path.join(user, "notes.txt"), "w") as f:
      f.write("mine")
    with self.assertRaisesRegex(
      ValueError,
      r"^model_dir=.* is not empty and holds files this "
      r"tool did not write \(e.g. 'notes.txt'\).*`overwrite`",
    ):
      io_utils.claim_dir(user, "performer", "model_dir")
    self.assertIsNone(io_utils.owner(user))
    other = io_utils.claim_dir(tempfile.mkdtemp(), "dataset", "out_dir")
    with self.assertRaisesRegex(ValueError, r"holds the output of another step \(dataset\)"):
      io_utils.claim_dir(other, "evaluation", "output_dir")
    io_utils.claim_dir(user, "performer", "model_dir", overwrite=True)
    with open(os.path.join(user, "notes.txt")) as f:
      self.assertEqual(f.read(), "mine")  # claimed, nothing deleted
    path = os.path.join(user, "notes.txt")
    with self.assertRaisesRegex(ValueError, r"model_dir=.*notes.txt is a file"):
      io_utils.claim_dir(path, "performer", "model_dir")


if __name__ == "__main__":
  tf.test.main()
