"""Tests for tf_explainer.visualize.figures."""

import numpy as np
import tensorflow as tf

from tf_explainer.metrics import UnitMapping
from tf_explainer.visualize import figures


class FiguresTest(tf.test.TestCase):
  def test_round_receptive_field(self):
    """One active unit (1, 2) with centre 7.5 + 16 u -> a disk of radius 16 at (23.5, 39.5)."""
    m = np.zeros((3, 3))
    m[1, 2] = 2.0
    field = figures.round_receptive_field(m, UnitMapping((7.5, 7.5), (16.0, 16.0)), 64)
    self.assertEqual(field[23, 39], 1.0)
    self.assertEqual(field[23, 10], 0.0)
    rows, cols = np.nonzero(field)
    self.assertAllClose([rows.mean(), cols.mean()], [23.5, 39.5], atol=0.6)

  def test_choose_filters_one_per_part_first(self):
    """Mean scores 5, 4, 3, 2, 1 for filters 0-4; parts 0, 0, 1, 1, 2 -> 0, 2, 4, then 1, 3."""
    scores = np.tile([5.0, 4.0, 3.0, 2.0, 1.0], (3, 1))
    self.assertEqual(figures.choose_filters(scores, 4, np.array([0, 0, 1, 1, 2])), [0, 2, 4, 1])
    self.assertEqual(figures.choose_filters(scores, 2), [0, 1])
    scores[:, 3] = [1.0, 9.0, 2.0]  # filter 3's top images: 1, then 2, then 0
    self.assertAllEqual(figures.top_images(scores, [3], 2), [[1, 2]])

  def test_grad_cam(self):
    maps = np.zeros((1, 2, 2, 2))
    maps[0, 0, 0, 0] = 1.0
    maps[0, 1, 1, 1] = 1.0
    grads = np.zeros_like(maps)
    grads[..., 0] = 1.0  # channel 0 helps the class
    grads[..., 1] = -1.0  # channel 1 hurts it
    cam = figures.grad_cam(maps, grads, 4)
    self.assertEqual(cam.shape, (1, 4, 4))
    self.assertAllClose(cam.max(), 1.0)
    self.assertGreater(cam[0, 0, 0], cam[0, 3, 3])

  def test_part_contributions(self):
    """Filter 0 (part 0) gives 3, filter 1 (part 1) gives 1, filter 2 (part 1) gives -5 -> 0."""
    maps = np.ones((1, 1, 1, 3))
    grads = np.array([3.0, 1.0, -5.0]).reshape(1, 1, 1, 3)
    shares = figures.part_contributions(maps, grads, np.array([0, 1, 1]), 3)
    self.assertAllClose(shares, [[0.75, 0.25, 0.0]])


if __name__ == "__main__":
  tf.test.main()
