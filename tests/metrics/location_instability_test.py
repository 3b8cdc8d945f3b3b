"""Tests for tf_explainer.metrics.location_instability, on cases derived by hand."""

import numpy as np
import tensorflow as tf

from tf_explainer.metrics import (
  assign_filter_categories,
  filter_instabilities,
  filter_landmark_distances,
  location_instability,
  peaks_and_scores,
  UnitMapping,
)


class LocationInstabilityTest(tf.test.TestCase):
  def test_fixed_offset_is_zero(self):
    """A peak that keeps a fixed offset from every landmark has distances of zero spread."""
    rng = np.random.default_rng(0)
    landmarks = rng.uniform(0, 100, (20, 3, 2))
    peaks = landmarks[:, :1, :] + np.array([5.0, -3.0])  # fixed offset from landmark 0
    peaks = np.repeat(peaks, 1, axis=1)
    # Only one landmark, so the distance to it is constant.
    value = location_instability(peaks, rng.random((20, 1)), landmarks[:, :1], (100, 100))
    self.assertAllClose(value, 0.0)

  def test_hand_computed(self):
    """One filter, one landmark at the origin, peaks at distances 1, 2, 3, 10.

    top_n = 3 keeps the three best scores (distances 1, 2, 3): std (ddof 1) = 1.
    Image 100 x 100: diagonal 141.42 -> 1 / 141.42.
    """
    peaks = np.array([[[1, 0]], [[0, 2]], [[3, 0]], [[0, 10]]], float)
    scores = np.array([[4.0], [3.0], [2.0], [1.0]])
    landmarks = np.zeros((4, 1, 2))
    value = location_instability(peaks, scores, landmarks, (100, 100), top_n=3)
    self.assertAllClose(value, 1.0 / np.hypot(100, 100))
    # All four: distances 1, 2, 3, 10 -> std = sqrt(((-3)^2+(-2)^2+(-1)^2+6^2)/3) = sqrt(50/3).
    value = location_instability(peaks, scores, landmarks, (100, 100), top_n=100)
    self.assertAllClose(value, np.sqrt(50.0 / 3.0) / np.hypot(100, 100))

  def test_mean_distances(self):
    """Same images as the instability: the top_n by score; mean, not spread."""
    peaks = np.array([[[1, 0]], [[0, 2]], [[3, 0]], [[0, 10]]], float)
    scores = np.array([[4.0], [3.0], [2.0], [1.0]])
    landmarks = np.concatenate([np.zeros((4, 1, 2)), np.full((4, 1, 2), 50.0)], axis=1)
    distances = filter_landmark_distances(peaks, scores, landmarks, top_n=3)
    far = np.mean([np.hypot(49, 50), np.hypot(50, 48), np.hypot(47, 50)])
    self.assertAllClose(distances, [[2.0, far]])
    self.assertEqual(int(np.argmin(distances)), 0)  # the part this filter fires on

  def test_missing_landmarks_and_nan_filters(self):
    """Filter mean over landmarks; a landmark seen in fewer than 2 images makes the filter NaN."""
    peaks = np.zeros((3, 1, 2))
    scores = np.ones((3, 1))
    landmarks = np.array(
      [[[1, 0], [np.nan, np.nan]], [[3, 0], [np.nan, np.nan]], [[5, 0], [2, 0]]], float
    )
    self.assertTrue(np.isnan(filter_instabilities(peaks, scores, landmarks)[0]))
    self.assertTrue(np.isnan(location_instability(peaks, scores, landmarks, (10, 10))))
    # Drop landmark 1: distances 1, 3, 5 -> std 2.
    self.assertAllClose(filter_instabilities(peaks, scores, landmarks[:, :1]), [2.0])

  def test_known_random_case(self):
    """Against a direct loop written out here."""
    rng = np.random.default_rng(1)
    n, f, k = 30, 4, 3
    peaks, scores = rng.uniform(0, 50, (n, f, 2)), rng.random((n, f))
    landmarks = rng.uniform(0, 50, (n, k, 2))
    landmarks[rng.random((n, k)) < 0.2] = np.nan
    expected = []
    for j in range(f):
      per_k = []
      for kk in range(k):
        ok = [i for i in np.argsort(-scores[:, j]) if np.isfinite(landmarks[i, kk, 0])][:10]
        d = [np.hypot(*(landmarks[i, kk] - peaks[i, j])) for i in ok]
        per_k.append(np.std(d, ddof=1))
      expected.append(np.mean(per_k))
    value = location_instability(peaks, scores, landmarks, (50, 50), top_n=10)
    self.assertAllClose(value, np.mean(expected) / np.hypot(50, 50))

  def test_multi_category(self):
    """Each filter uses only images of its category."""
    peaks = np.zeros((4, 2, 2))
    scores = np.ones((4, 2))
    landmarks = np.array([[[1, 0]], [[3, 0]], [[10, 0]], [[10, 0]]], float)
    cats = np.array([0, 0, 1, 1])
    per = filter_instabilities(
      peaks, scores, landmarks, image_categories=cats, filter_categories=np.array([0, 1])
    )
    self.assertAllClose(per, [np.std([1, 3], ddof=1), 0.0])
    self.assertAllEqual(assign_filter_categories([[1, 0], [1, 0], [0, 2], [0, 2]], cats, 2), [0, 1])

  def test_peaks_and_scores(self):
    maps = np.zeros((1, 3, 3, 2))
    maps[0, 2, 1, 0] = 5.0
    maps[0, 0, 2, 1] = 7.0
    peaks, scores = peaks_and_scores(maps, UnitMapping((7.5, 7.5), (16.0, 16.0)))
    self.assertAllClose(peaks[0], [[39.5, 23.5], [7.5, 39.5]])
    self.assertAllClose(scores[0], [5.0, 7.0])

  def test_bad_shapes(self):
    with self.assertRaisesRegex(ValueError, r"peaks must be \(N, F, 2\)"):
      location_instability(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 1, 2)), (1, 1))


if __name__ == "__main__":
  tf.test.main()
