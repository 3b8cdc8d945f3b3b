"""Tests for tf_explainer.metrics.part_tracking, on hand-made peaks."""

import numpy as np
import tensorflow as tf

from tf_explainer.metrics import (
  fixed_point_peaks,
  landmark_peaks,
  location_instability,
  part_tracking,
)
from tf_explainer.metrics.part_tracking import hit_rates, patterns

SIDE = 224


def _faces(n=80, seed=0):
  """`(n, 3, 2)` landmarks (row, col): three parts that move together over the image.

  The face's centre moves by up to 60 px; part 0 sits 40 px above it, part 1
  40 px left of it, part 2 40 px below. Parts are 40-57 px apart, beyond the
  28 px (1/8 of 224) radius, and a shuffled part lands on a filter's peak rarely.
  """
  rng = np.random.default_rng(seed)
  centre = 112 + rng.uniform(-60, 60, (n, 1, 2))
  offsets = np.array([[-40.0, 0.0], [0.0, -40.0], [40.0, 0.0]])
  return centre + offsets


class PartTrackingTest(tf.test.TestCase):
  def test_follower_counted_fixed_and_random_not(self):
    """A filter on part 1 (3 px off) tracks it; a fixed and a random filter track nothing."""
    landmarks = _faces()
    n = len(landmarks)
    rng = np.random.default_rng(1)
    peaks = np.stack(
      [
        landmarks[:, 1] + 3.0,  # follows part 1
        np.full((n, 2), 112.0),  # fixed at the centre of the image
        rng.uniform(0, SIDE, (n, 2)),  # anywhere
      ],
      axis=1,
    )
    summary, per_filter = part_tracking(peaks, np.ones((n, 3)), landmarks, SIDE, ["a", "b", "c"])
    self.assertAllEqual(per_filter["part"], [1, -1, -1])
    self.assertEqual(summary["tracking"], 1)
    self.assertEqual(summary["per_part"], {"a": 0, "b": 1, "c": 0})
    self.assertAllClose(per_filter["rate"][0], 1.0)
    self.assertLess(per_filter["shuffled_rate"][0], 0.5)

  def test_fixed_point_control_tracks_nothing(self):
    """The mean-landmark point hits parts often on tight crops, but no more than shuffled."""
    landmarks = _faces(seed=2) * 0.2 + 90  # faces that barely move: the centre often hits
    fixed = fixed_point_peaks(landmarks, 2)
    self.assertEqual(fixed.shape, (len(landmarks), 2, 2))
    summary, _ = part_tracking(fixed, np.ones(fixed.shape[:2]), landmarks, SIDE)
    rates, _ = hit_rates(fixed, np.ones(fixed.shape[:2]), landmarks, SIDE)
    self.assertGreater(rates.max(), 0.5)  # it hits a part on most images...
    self.assertEqual(summary["tracking"], 0)  # ...and as often when the parts are shuffled

  def test_perfect_tracker_is_the_floor(self):
    """On faces that only move, a peak on each part is perfectly stable; with parts that
    also move against each other, it is what is left, under the fixed point; a missing part
    puts its filter at the part's mean with score 0."""
    landmarks = _faces()
    peaks, scores = landmark_peaks(landmarks)
    self.assertAllClose(location_instability(peaks, scores, landmarks, (SIDE, SIDE)), 0.0)
    landmarks = landmarks + np.random.default_rng(3).normal(0, 4, landmarks.shape)
    landmarks[0, 2] = np.nan
    peaks, scores = landmark_peaks(landmarks)
    self.assertAllClose(peaks[0, 2], np.nanmean(landmarks[:, 2], 0))
    self.assertAllEqual(scores[0], [1, 1, 0])
    perfect = location_instability(peaks, scores, landmarks, (SIDE, SIDE))
    fixed = fixed_point_peaks(landmarks)
    still = location_instability(fixed, np.ones(fixed.shape[:2]), landmarks, (SIDE, SIDE))
    self.assertGreater(perfect, 0.0)
    self.assertLess(perfect, 0.5 * still)

  def test_silent_filter_not_counted(self):
    """A filter on part 0 that fires on a third of the images does not track it."""
    landmarks = _faces()
    n = len(landmarks)
    scores = np.zeros((n, 1))
    scores[: n // 3] = 1.0
    summary, per_filter = part_tracking(landmarks[:, :1] + 1.0, scores, landmarks, SIDE)
    self.assertEqual(summary["tracking"], 0)
    self.assertAllClose(per_filter["firing"], [(n // 3) / n])

  def test_missing_landmarks_ignored(self):
    """Images without part 2 do not count for it: the rate is over the others."""
    landmarks = _faces()
    peaks = landmarks[:, 2:3] + 2.0
    landmarks[::2, 2] = np.nan
    rates, counts = hit_rates(peaks, np.ones((len(landmarks), 1)), landmarks, SIDE)
    self.assertEqual(counts[0, 2], len(landmarks) // 2)
    self.assertAllClose(rates[0, 2], 1.0)

  def test_part_with_two_places(self):
    """A filter on part 0 on 40% of the images, part 2 on 40% and part 1 on the rest tracks no
    part alone, and tracks parts 0 and 2 taken as one ((N, K, M, 2) landmarks, 80%), as a
    fixed filter does not."""
    landmarks = _faces()
    n = len(landmarks)
    which = np.arange(n) % 5 // 2  # 0, 0, 1, 1, 2, ...
    which = np.where(which == 1, 2, np.where(which == 2, 1, 0))  # part 0, 0, 2, 2, 1, ...
    either = landmarks[np.arange(n), which]
    peaks = np.stack([either + 2.0, np.full((n, 2), 112.0)], axis=1)
    scores = np.ones((n, 2))
    alone, _ = part_tracking(peaks, scores, landmarks, SIDE)
    self.assertEqual(alone["tracking"], 0)
    grouped = np.full((n, 2, 2, 2), np.nan)
    grouped[:, 0] = landmarks[:, [0, 2]]  # part 0 or part 2
    grouped[:, 1, 0] = landmarks[:, 1]
    rates, counts = hit_rates(peaks, scores, grouped, SIDE)
    self.assertAllClose(rates[0], [0.8, 0.2])
    self.assertAllEqual(counts, np.full((2, 2), n))
    summary, per_filter = part_tracking(peaks, scores, grouped, SIDE, ["a or c", "b"])
    self.assertAllEqual(per_filter["part"], [0, -1])
    self.assertEqual(summary["per_part"], {"a or c": 1, "b": 0})
    # One place per part, given as (N, K, 1, 2), is the (N, K, 2) metric.
    self.assertAllClose(
      hit_rates(peaks, scores, landmarks[:, :, None], SIDE)[0],
      hit_rates(peaks, scores, landmarks, SIDE)[0],
    )

  def test_copies_form_one_pattern(self):
    """Three copies of one filter and a distinct one: two patterns, each counted once."""
    landmarks = _faces()
    n = len(landmarks)
    peaks = np.stack(
      [landmarks[:, 0], landmarks[:, 0] + 1.0, landmarks[:, 0] - 1.0, landmarks[:, 2]], axis=1
    )
    self.assertAllEqual(patterns(peaks, np.ones((n, 4)), SIDE), [0, 0, 0, 1])
    summary, _ = part_tracking(peaks, np.ones((n, 4)), landmarks, SIDE, ["a", "b", "c"])
    self.assertEqual(summary["tracking"], 4)
    self.assertEqual(summary["patterns"], 2)
    self.assertEqual(summary["per_part_patterns"], {"a": 1, "b": 0, "c": 1})
    self.assertAllClose(summary["pattern_share"], 1.0)


if __name__ == "__main__":
  tf.test.main()
