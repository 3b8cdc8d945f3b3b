"""Tests for tf_explainer.data.pascal_part on a tiny fake Pascal-Part tree."""

import os
import tempfile

import numpy as np
from PIL import Image
from scipy import io
import tensorflow as tf

from tf_explainer.data import make_dataset
from tf_explainer.data.pascal_part import read_pascal_part


def struct_array(records, fields):
  array = np.zeros((len(records),), dtype=[(f, object) for f in fields])
  for i, record in enumerate(records):
    for f in fields:
      array[i][f] = record[f]
  return array


def box_mask(shape, r0, r1, c0, c1):
  mask = np.zeros(shape, np.uint8)
  mask[r0:r1, c0:c1] = 1
  return mask


def write_tree(root):
  """One image 40 x 60 with a dog (head, eye, neck, torso), a person, and a cat with two necks."""
  os.makedirs(os.path.join(root, "Annotations_Part"))
  os.makedirs(os.path.join(root, "VOC2010", "JPEGImages"))
  os.makedirs(os.path.join(root, "VOC2010", "ImageSets", "Main"))
  shape = (40, 60)
  Image.fromarray(np.zeros(shape + (3,), np.uint8)).save(
    os.path.join(root, "VOC2010", "JPEGImages", "2008_000001.jpg")
  )
  part_fields = ("part_name", "mask")
  dog_parts = struct_array(
    [
      {"part_name": "head", "mask": box_mask(shape, 2, 6, 2, 6)},  # centre (3.5, 3.5)
      {"part_name": "leye", "mask": box_mask(shape, 2, 4, 6, 8)},  # widens the head
      {"part_name": "neck", "mask": box_mask(shape, 6, 10, 4, 6)},  # centre (7.5, 4.5)
      {"part_name": "torso", "mask": box_mask(shape, 10, 20, 4, 24)},  # centre (14.5, 13.5)
    ],
    part_fields,
  )
  cat_parts = struct_array(
    [
      {"part_name": "neck", "mask": box_mask(shape, 22, 24, 40, 42)},
      {"part_name": "neck", "mask": box_mask(shape, 25, 27, 40, 42)},
    ],
    part_fields,
  )
  objects = struct_array(
    [
      {"class": "dog", "class_ind": 12, "mask": box_mask(shape, 2, 20, 2, 24), "parts": dog_parts},
      {
        "class": "person",
        "class_ind": 15,
        "mask": box_mask(shape, 0, 5, 50, 55),
        "parts": np.zeros((0,), object),
      },
      {"class": "cat", "class_ind": 8, "mask": box_mask(shape, 22, 30, 40, 50), "parts": cat_parts},
    ],
    ("class", "class_ind", "mask", "parts"),
  )
  io.savemat(
    os.path.join(root, "Annotations_Part", "2008_000001.mat"),
    {"anno": {"imname": "2008_000001", "objects": objects}},
  )
  with open(os.path.join(root, "VOC2010", "ImageSets", "Main", "train.txt"), "w") as f:
    f.write("2008_000001\n")
  return root


class PascalPartTest(tf.test.TestCase):
  def test_objects_landmarks_and_boxes(self):
    root = write_tree(tempfile.mkdtemp())
    d = read_pascal_part(os.path.join(root, "Annotations_Part"), os.path.join(root, "VOC2010"))
    self.assertLen(d, 2)  # the person is not an animal category
    self.assertEqual(list(d.class_names[d.labels]), ["dog", "cat"])
    dog, cat = 0, 1
    # Head = head + left eye: rows 2-5, cols 2-5 and rows 2-3, cols 6-7 (16 + 4 pixels).
    head_rows = (np.arange(2, 6).mean() * 16 + np.arange(2, 4).mean() * 4) / 20
    head_cols = (np.arange(2, 6).mean() * 16 + np.arange(6, 8).mean() * 4) / 20
    self.assertAllClose(d.landmarks[dog], [[head_rows, head_cols], [7.5, 4.5], [14.5, 13.5]])
    self.assertAllClose(d.boxes[dog], [2, 2, 22, 18])
    # Two necks on one object: NaN; no head or torso: NaN.
    self.assertTrue(np.all(np.isnan(d.landmarks[cat])))
    self.assertTrue(d.is_train.all())
    batch = next(iter(make_dataset(d, 32, batch_size=2)))
    self.assertEqual(batch["images"].shape, (2, 32, 32, 3))

  def test_missing_folder(self):
    with self.assertRaisesRegex(ValueError, "annotation folder does not exist"):
      read_pascal_part("/nonexistent/Annotations_Part", "/nonexistent")


if __name__ == "__main__":
  tf.test.main()
