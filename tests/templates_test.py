"""Tests for tf_explainer.templates."""

import numpy as np
import tensorflow as tf

from tf_explainer import templates


class PartTemplatesTest(tf.test.TestCase):
  def test_golden_values_for_l3(self):
    """L = 3, beta = 4, tau = 0.5 / 9 = 1 / 18.

    A unit at L1 distance d from mu gets tau * max(1 - 4 d / 3, -1):
    d = 0 -> 1, d = 1 -> -1/3, d >= 2 -> -1 (1 - 8/3 = -5/3 is clipped).
    """
    t = templates.part_templates(3)
    tau = 1.0 / 18.0
    third = -1.0 / 3.0
    corner = tau * np.array([[1, third, -1], [third, -1, -1], [-1, -1, -1]])
    centre = tau * np.array([[-1, third, -1], [third, 1, third], [-1, third, -1]])
    edge_top = tau * np.array([[third, 1, third], [-1, third, -1], [-1, -1, -1]])  # mu = (0, 1)
    last = tau * np.array([[-1, -1, -1], [-1, -1, third], [-1, third, 1]])  # mu = (2, 2)
    self.assertEqual(t.shape, (10, 3, 3))
    self.assertEqual(t.dtype, np.float32)
    self.assertAllClose(t[0], corner)
    self.assertAllClose(t[1], edge_top)
    self.assertAllClose(t[4], centre)
    self.assertAllClose(t[8], last)
    self.assertAllClose(t[9], np.full((3, 3), -tau))

  def test_row_major_order(self):
    t = templates.part_templates(5)
    for k in range(25):
      peak = np.unravel_index(np.argmax(t[k]), (5, 5))
      self.assertEqual(peak, (k // 5, k % 5))

  def test_custom_tau_and_beta(self):
    t = templates.part_templates(4, beta=2.0, tau=1.0)
    # mu = (0, 0), unit (0, 1): 1 - 2 * 1 / 4 = 0.5.
    self.assertAllClose(t[0, 0, 1], 0.5)
    self.assertAllClose(t[-1], -np.ones((4, 4)))

  def test_masks_clip_at_zero(self):
    # L = 3: 1 - 4 * 1 / 3 < 0, so only the peak survives.
    m = templates.mask_templates(3)
    self.assertAllClose(m[4], [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    # L = 8, mu = (0, 0): distance 1 -> 1 - 4 / 8 = 0.5, distance 2 -> 0.
    m = templates.mask_templates(8)
    self.assertAllClose(m[0, 0, :3], [1.0, 0.5, 0.0])
    self.assertAllClose(m[0, 1, :2], [0.5, 0.0])
    self.assertEqual(templates.template_prior(3), 0.1)

  def test_bad_size(self):
    for size in (0, -2, 2.5):
      with self.assertRaisesRegex(ValueError, "positive integer"):
        templates.part_templates(size)


if __name__ == "__main__":
  tf.test.main()
