"""Tests for tf_explainer.data.pipeline: crops, landmarks through crop and resize."""

import os
import tempfile

import numpy as np
from PIL import Image
import tensorflow as tf

from tests.data.cub_test import write_tree
from tf_explainer.data import make_dataset, read_part_dataset, task_labels


class PipelineTest(tf.test.TestCase):

  def test_landmark_follows_marked_pixel(self):
    """A bright 2 x 2 block at a landmark stays under the landmark after crop and resize.

    Box x = 2..22, y = 3..18 (20 x 15) resized to 40 x 40: scale 2 on columns, 8/3 on
    rows. The landmark (row 9.5, col 11.5), the centre of the block, maps to
    ((9.5 - 3 + 0.5) * 40/15 - 0.5, (11.5 - 2 + 0.5) * 2 - 0.5) = (18.17, 19.5).
    """
    root = write_tree(tempfile.mkdtemp(), n=1, parts=((11.5, 9.5, 1), (0, 0, 0)))
    image = np.zeros((30, 40, 3), np.uint8)
    image[9:11, 11:13] = 255
    Image.fromarray(image).save(os.path.join(root, "images", "001.a", "img1.png"))
    os.replace(os.path.join(root, "images", "001.a", "img1.png"),
               os.path.join(root, "images", "001.a", "img1.jpg"))  # lossless content
    batch = next(iter(make_dataset(read_part_dataset(root), 40, batch_size=1)))
    row, col = batch["landmarks"][0, 0].numpy()
    self.assertAllClose([row, col], [18.1667, 19.5], atol=1e-3)
    pixels = batch["images"][0, ..., 0].numpy()
    peak = np.array(np.unravel_index(np.argmax(pixels), pixels.shape))
    self.assertLessEqual(np.abs(peak - [row, col]).max(), 1.5)
    self.assertTrue(np.isnan(batch["landmarks"][0, 1]).all())

  def test_flip_moves_landmarks(self):
    root = write_tree(tempfile.mkdtemp(), n=4)
    d = read_part_dataset(root)
    plain = next(iter(make_dataset(d, 20, batch_size=4)))
    tf.random.set_seed(3)
    flipped = [next(iter(make_dataset(d, 20, batch_size=4, augment=True))) for _ in range(4)]
    cols = {float(b["landmarks"][0, 0, 1]) for b in flipped}
    expected = float(plain["landmarks"][0, 0, 1])
    self.assertTrue(cols <= {expected, 19.0 - expected})

  def test_task_labels(self):
    labels = np.array([0, 2, 1, 2])
    self.assertAllEqual(task_labels(labels, "single", 2), [0, 1, 0, 1])
    self.assertAllEqual(task_labels(labels, "multi"), labels)
    with self.assertRaisesRegex(ValueError, "--target_class"):
      task_labels(labels, "single")
    with self.assertRaisesRegex(ValueError, "--task"):
      task_labels(labels, "pairs")


if __name__ == "__main__":
  tf.test.main()
