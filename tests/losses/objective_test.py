"""Tests for tf_explainer.losses.objective terms that have no test of their own elsewhere."""

import numpy as np
import tensorflow as tf

from tf_explainer.losses import objective


class OverlapTest(tf.test.TestCase):
  def test_every_filter_at_one_unit_is_one(self):
    maps = np.zeros((2, 3, 3, 4), np.float32)
    maps[:, 1, 2, :] = [1.0, 2.0, 3.0, 4.0]
    self.assertAllClose(objective.overlap(maps), 1.0)

  def test_filters_at_different_units_is_zero(self):
    maps = np.zeros((1, 3, 3, 3), np.float32)
    maps[0, 0, 0, 0] = 5.0
    maps[0, 1, 1, 1] = 1.0
    maps[0, 2, 0, 2] = 2.0
    self.assertAllClose(objective.overlap(maps), 0.0)

  def test_golden_value_by_hand(self):
    # Image 0: f0 = (1/2, 1/2) on units a, b; f1 = 1 on a; f2 silent.
    # Ordered pairs: (0,1) and (1,0) give 1/2 each, any pair with f2 gives 0:
    # (1/2 + 1/2) / (3 * 2) = 1/6. Image 1: every map silent: 0. Mean 1/12.
    maps = np.zeros((2, 2, 2, 3), np.float32)
    maps[0, 0, 0, 0] = maps[0, 0, 1, 0] = 3.0
    maps[0, 0, 0, 1] = 7.0
    self.assertAllClose(objective.overlap(maps), 1.0 / 12.0)

  def test_gradient_moves_shared_units_down(self):
    maps = tf.constant(np.random.default_rng(0).random((2, 4, 4, 5)).astype(np.float32))
    with tf.GradientTape() as tape:
      tape.watch(maps)
      value = objective.overlap(maps)
    grad = tape.gradient(value, maps).numpy()
    self.assertTrue(np.all(np.isfinite(grad)))
    # Shrinking the map along its gradient lowers the overlap.
    self.assertLess(float(objective.overlap(maps - 1e-2 * grad / np.abs(grad).max())), float(value))


class CrowdingTest(tf.test.TestCase):
  def test_every_filter_at_one_unit_is_the_excess_squared(self):
    maps = np.zeros((2, 3, 3, 4), np.float32)
    maps[:, 1, 2, :] = [1.0, 2.0, 3.0, 4.0]
    self.assertAllClose(objective.crowding(maps, 0.25), 0.75**2)

  def test_sharing_below_the_quota_is_free(self):
    # Two filters at each of two units: half the filters per unit, at the quota.
    maps = np.zeros((1, 2, 2, 4), np.float32)
    maps[0, 0, 0, :2] = 1.0
    maps[0, 1, 1, 2:] = 3.0
    self.assertAllClose(objective.crowding(maps, 0.5), 0.0)
    self.assertGreater(float(objective.overlap(maps)), 0.0)

  def test_golden_value_by_hand(self):
    # Image 0: f0 = (1/2, 1/2) on units a, b; f1 = 1 on a; f2 silent: shares a 1/2,
    # b 1/6; above a quota of 1/4: (1/4)^2. Image 1: silent: 0. Mean 1/32.
    maps = np.zeros((2, 2, 2, 3), np.float32)
    maps[0, 0, 0, 0] = maps[0, 0, 1, 0] = 3.0
    maps[0, 0, 0, 1] = 7.0
    self.assertAllClose(objective.crowding(maps, 0.25), 1.0 / 32.0)

  def test_gradient_moves_only_the_crowded_unit(self):
    maps = np.full((1, 2, 2, 4), 0.1, np.float32)
    maps[0, 0, 0, :] = 5.0  # most of every filter at unit (0, 0)
    maps = tf.constant(maps)
    with tf.GradientTape() as tape:
      tape.watch(maps)
      value = objective.crowding(maps, 0.5)
    grad = tape.gradient(value, maps).numpy()
    self.assertTrue(np.all(grad[0, 0, 0] > 0))  # the crowded unit goes down
    self.assertTrue(np.all(grad[0, 1, 1] < 0))  # the others take the mass
    self.assertLess(float(objective.crowding(maps - 0.1 * grad, 0.5)), float(value))


if __name__ == "__main__":
  tf.test.main()


class EquivarianceTest(tf.test.TestCase):
  SIDE = 4

  def test_warp_points(self):
    """The top-left quarter's crop doubles every distance from the image's corner."""
    boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.5, 0.25, 1.0, 0.75]], np.float32)
    points = np.array([[0.25, 0.5]], np.float32)
    self.assertAllClose(objective.warp_points(points, boxes), [[[0.5, 1.0]], [[-0.5, 0.5]]])

  def test_points_follow_crop_and_resize(self):
    """A crop of the middle half of a 9 px image, resized back: its corners' pixels (2 and 6)
    go to 0 and 8, in coordinates where 0 and 1 are the first and last pixel."""
    boxes = np.array([[0.25, 0.25, 0.75, 0.75]], np.float32)
    points = np.array([[[2.0, 2.0], [6.0, 6.0], [4.0, 2.0]]]) / 8.0
    self.assertAllClose(
      objective.warp_points(points, boxes) * 8.0, [[[0.0, 0.0], [8.0, 8.0], [4.0, 0.0]]]
    )

  def test_a_peak_that_follows_the_zoom_costs_nothing(self):
    units = objective.unit_centres(self.SIDE)  # (i + 0.5) / 4
    one_hot = lambda r, c: tf.one_hot([[r * self.SIDE + c]], self.SIDE**2)  # noqa: E731
    # Zoomed in 2x from 0.3125: unit (1, 1) at 0.375 lands on unit (0, 0) at 0.125.
    boxes = np.array([[0.3125, 0.3125, 0.8125, 0.8125]], np.float32)
    self.assertAllClose(objective.equivariance_loss(one_hot(1, 1), one_hot(0, 0), units, boxes), 0)
    stays = objective.equivariance_loss(one_hot(1, 1), one_hot(1, 1), units, boxes)
    self.assertAllClose(stays, 2 * 0.25**2)
    # A peak the crop leaves out (unit (0, 0) lands at -0.375) does not count.
    self.assertAllClose(objective.equivariance_loss(one_hot(0, 0), one_hot(2, 2), units, boxes), 0)

  def test_moments_equal_the_sum_over_pairs_weighted_by_image(self):
    """The moments' form equals the sum over every pair of units, on random heatmaps."""
    rng = np.random.default_rng(4)
    units = objective.unit_centres(self.SIDE).numpy()
    before, after = rng.dirichlet(np.ones(self.SIDE**2), (2, 3, 5)).astype(np.float32)
    side = rng.uniform(0.5, 0.9, 3)
    start = rng.uniform(0.0, 1.0 - side[:, None], (3, 2))
    boxes = np.concatenate([start, start + side[:, None]], 1).astype(np.float32)
    moved = objective.warp_points(units[None], boxes).numpy()  # (B, U, 2)
    inside = np.all((moved >= 0) & (moved <= 1), -1)
    d2 = np.sum(np.square(units[None, :, None] - moved[:, None]), -1)  # (B, Uu, Uv)
    pairs = np.einsum("bfu,buv,bfv->bf", after, d2, before * inside[:, None]).mean(-1)
    weights = np.array([1.0, 0.0, 1.0], np.float32)
    self.assertAllClose(
      objective.equivariance_loss(before, after, units, boxes), pairs.mean(), rtol=1e-4
    )
    self.assertAllClose(
      objective.equivariance_loss(before, after, units, boxes, weights),
      pairs[[0, 2]].mean(),
      rtol=1e-4,
    )

  def test_term_does_not_depend_on_each_filters_scale(self):
    """Each channel is divided by its spread first: scaling a filter's maps changes nothing."""
    rng = np.random.default_rng(5)
    logits, crops = rng.normal(size=(2, 3, self.SIDE, self.SIDE, 2)).astype(np.float32)
    boxes = np.tile(np.array([[0.1, 0.2, 0.8, 0.9]], np.float32), (3, 1))
    weights = np.ones(3, np.float32)
    term = objective.equivariance(logits, crops, boxes, weights, 0.1)
    scale = np.array([10.0, 0.1], np.float32)
    self.assertAllClose(
      objective.equivariance(logits * scale, crops * scale, boxes, weights, 0.1), term, rtol=1e-4
    )
