"""Tests for benchmarks.face_disguise: the CUB layout it writes, and the reserved photos."""

import os
import tempfile

import numpy as np
import tensorflow as tf
from PIL import Image
from scipy import io as scipy_io

from benchmarks import face_disguise
from tf_explainer import data as data_lib


def _source(photos=4):
  """A folder like the dataset's: `joints.mat` (14, 2, photos) and 640 x 480 photos."""
  root = tempfile.mkdtemp()
  os.makedirs(os.path.join(root, face_disguise.PHOTO_FOLDER))
  rng = np.random.default_rng(0)
  joints = np.zeros((14, 2, photos))
  for p in range(photos):
    centre = np.array([320.0, 200.0]) + rng.uniform(-40, 40, 2)
    joints[:, :, p] = centre + rng.uniform(-30, 30, (14, 2))
    pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(os.path.join(root, face_disguise.PHOTO_FOLDER, f"{p + 1}.jpg"))
  scipy_io.savemat(os.path.join(root, "joints.mat"), {"joints": joints})
  return root, joints


class FaceDisguiseTest(tf.test.TestCase):
  def test_writes_a_cub_layout_with_parts(self):
    source, joints = _source()
    out = os.path.join(tempfile.mkdtemp(), "faces")
    faces, backgrounds = face_disguise.convert(source, out, photos=4, side=64, test_fraction=0.5)
    self.assertEqual((faces, backgrounds), (4, 4))
    dataset = data_lib.read_part_dataset(out)
    self.assertLen(dataset, 8)
    self.assertEqual(list(dataset.class_names), ["face", "background"])
    self.assertEqual(list(dataset.part_names), list(face_disguise.PARTS))
    faces_rows = dataset.labels == 0
    # Face crops have their parts inside the crop; background crops have none.
    self.assertTrue(np.all(np.isfinite(dataset.landmarks[faces_rows])))
    self.assertTrue(np.all(np.isnan(dataset.landmarks[~faces_rows])))
    self.assertTrue(
      np.all((dataset.landmarks[faces_rows] >= 0) & (dataset.landmarks[faces_rows] < 64))
    )
    # Both crops of a photo are in one split.
    by_photo = dataset.is_train.reshape(4, 2)
    self.assertAllEqual(by_photo[:, 0], by_photo[:, 1])

  def test_parts_from_landmarks(self):
    joints = np.arange(28, dtype=float).reshape(14, 2)
    points = face_disguise.part_points(joints)
    self.assertAllEqual(points[0], joints[5])  # right eye, middle point
    self.assertAllEqual(points[2], (joints[1] + joints[2]) / 2)  # brows
    self.assertAllEqual(points[4], joints[12])  # lip middle

  def test_reserved_photos_refused(self):
    source, _ = _source(1)
    with self.assertRaisesRegex(ValueError, "photos 1001-2000 are reserved"):
      face_disguise.convert(source, tempfile.mkdtemp(), photos=1001)


if __name__ == "__main__":
  tf.test.main()
