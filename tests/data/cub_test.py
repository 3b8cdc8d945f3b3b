"""Tests for tf_explainer.data.cub on small CUB-layout trees written by the tests."""

import os
import tempfile

import numpy as np
from PIL import Image
import tensorflow as tf

from tf_explainer.data import DatasetError, read_part_dataset


def write_tree(root, n=3, size=(40, 30), parts=((10, 5, 1), (0, 0, 0))):
  """A CUB-layout tree of `n` images of `size` (width, height), two classes, two parts."""
  os.makedirs(os.path.join(root, "images", "001.a"))
  os.makedirs(os.path.join(root, "parts"))
  files = {
    "images.txt": [],
    "image_class_labels.txt": [],
    "bounding_boxes.txt": [],
    "train_test_split.txt": [],
    "parts/part_locs.txt": [],
  }
  for i in range(1, n + 1):
    rel = f"001.a/img{i}.jpg"
    Image.fromarray(np.full((size[1], size[0], 3), 100, np.uint8)).save(
      os.path.join(root, "images", rel)
    )
    files["images.txt"].append(f"{i} {rel}")
    files["image_class_labels.txt"].append(f"{i} {1 + i % 2}")
    files["bounding_boxes.txt"].append(f"{i} 2.0 3.0 20.0 15.0")
    files["train_test_split.txt"].append(f"{i} {i % 2}")
    for k, (x, y, vis) in enumerate(parts):
      files["parts/part_locs.txt"].append(f"{i} {k + 1} {x} {y} {vis}")
  files["classes.txt"] = ["1 001.a", "2 002.b with space"]
  files["parts/parts.txt"] = ["1 head", "2 left wing"]
  for name, lines in files.items():
    with open(os.path.join(root, name), "w") as f:
      f.write("\n".join(lines) + "\n")
  return root


class ReadPartDatasetTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.root = write_tree(tempfile.mkdtemp())

  def test_fields(self):
    d = read_part_dataset(self.root)
    self.assertLen(d, 3)
    self.assertEqual(list(d.class_names), ["001.a", "002.b with space"])
    self.assertEqual(list(d.part_names), ["head", "left wing"])
    self.assertAllEqual(d.labels, [1, 0, 1])
    self.assertAllEqual(d.is_train, [True, False, True])
    self.assertAllClose(d.boxes[0], [2, 3, 20, 15])
    self.assertAllClose(d.landmarks[0, 0], [5, 10])  # (row, col) = (y, x)
    self.assertTrue(np.all(np.isnan(d.landmarks[:, 1])))
    self.assertTrue(os.path.isabs(d.image_paths[0]) and os.path.exists(d.image_paths[0]))

  def rewrite(self, name, old, new):
    path = os.path.join(self.root, name)
    with open(path) as f:
      text = f.read()
    with open(path, "w") as f:
      f.write(text.replace(old, new, 1))

  def test_missing_file(self):
    os.remove(os.path.join(self.root, "bounding_boxes.txt"))
    with self.assertRaisesRegex(DatasetError, r"bounding_boxes\.txt: missing file"):
      read_part_dataset(self.root)

  def test_malformed_line(self):
    self.rewrite("bounding_boxes.txt", "2 2.0 3.0 20.0 15.0", "2 2.0 abc 20.0 15.0")
    with self.assertRaisesRegex(DatasetError, r"bounding_boxes\.txt:2: 'abc' is not a number"):
      read_part_dataset(self.root)

  def test_ids_disagree(self):
    self.rewrite("train_test_split.txt", "3 1", "4 1")
    with self.assertRaisesRegex(DatasetError, r"train_test_split\.txt: no entry for image id 3"):
      read_part_dataset(self.root)

  def test_undecodable_image(self):
    with open(os.path.join(self.root, "images", "001.a", "img2.jpg"), "wb") as f:
      f.write(b"not a jpeg")
    with self.assertRaisesRegex(DatasetError, r"img2\.jpg: image cannot be decoded"):
      read_part_dataset(self.root)

  def test_truncated_image_is_named_before_training(self):
    """A JPEG cut in half has a good header: only decoding every pixel finds it."""
    from PIL import Image

    path = os.path.join(self.root, "images", "001.a", "img2.jpg")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(path)
    with open(path, "rb") as f:
      data = f.read()
    with open(path, "wb") as f:
      f.write(data[: len(data) // 2])
    with Image.open(path) as image:
      image.verify()  # what the reader checked before: passes
    with self.assertRaisesRegex(DatasetError, r"img2\.jpg: image cannot be decoded"):
      read_part_dataset(self.root)
    d = read_part_dataset(self.root, on_error="skip")
    self.assertEqual(d.skipped, 1)
    self.assertNotIn(path, list(d.image_paths))
    from tf_explainer.data import read_checked

    with self.assertRaisesRegex(DatasetError, r"img2\.jpg"):
      read_checked(self.root, "fail")
    self.assertEqual(read_checked(self.root, "skip", verbose=0).skipped, 1)
    with self.assertRaisesRegex(ValueError, r"`on_error` must be one of"):
      read_checked(self.root, "ignore")

  def test_part_outside_image_raises_or_skips(self):
    self.rewrite("parts/part_locs.txt", "2 1 10 5 1", "2 1 10 500 1")
    with self.assertRaisesRegex(DatasetError, r"part_locs\.txt:3: part 1 .*y=500.*outside image 2"):
      read_part_dataset(self.root)
    d = read_part_dataset(self.root, on_error="skip")
    self.assertLen(d, 2)
    self.assertEqual(d.skipped, 1)
    self.assertAllEqual(d.image_ids, [1, 3])


if __name__ == "__main__":
  tf.test.main()
