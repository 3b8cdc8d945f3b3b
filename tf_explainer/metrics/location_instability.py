"""Location instability (SPEC section 2): how consistently a filter marks one part.

For filter f and landmark k: of the images where k is present (and, in the
multi-category protocol, that belong to f's category), take the `top_n` with
the highest `scores[:, f]`, the distances `d_n = ||landmark_nk - peak_nf||`,
and their sample standard deviation. A filter with fewer than two such images
for some landmark is NaN; otherwise its instability is the mean over its
landmarks. The result is the mean over non-NaN filters, divided by the image
diagonal.
"""

import numpy as np


def filter_landmark_deviations(
  peaks, scores, landmarks, top_n=100, image_categories=None, filter_categories=None
):
  """Standard deviation of the peak-landmark distance per filter and landmark, `(F, K)`.

  NaN where fewer than two images qualify. Args: as `location_instability`.
  """
  return _distance_statistic(
    peaks,
    scores,
    landmarks,
    top_n,
    image_categories,
    filter_categories,
    lambda d: np.std(d, ddof=1),
  )


def filter_landmark_distances(
  peaks, scores, landmarks, top_n=100, image_categories=None, filter_categories=None
):
  """Mean peak-landmark distance per filter and landmark, `(F, K)`, over the same images.

  The landmark with the smallest mean distance is the part a filter fires on.
  """
  return _distance_statistic(
    peaks, scores, landmarks, top_n, image_categories, filter_categories, np.mean
  )


def _distance_statistic(
  peaks, scores, landmarks, top_n, image_categories, filter_categories, statistic
):
  """`statistic` of the distances between each filter's peaks and each landmark, `(F, K)`."""
  peaks = np.asarray(peaks, np.float64)
  scores = np.asarray(scores, np.float64)
  landmarks = np.asarray(landmarks, np.float64)
  n, f = scores.shape
  if peaks.shape != (n, f, 2):
    raise ValueError(
      f"peaks must be (N, F, 2) = ({n}, {f}, 2) to match scores {scores.shape}, got {peaks.shape}."
    )
  if landmarks.ndim != 3 or landmarks.shape[0] != n or landmarks.shape[2] != 2:
    raise ValueError(f"landmarks must be (N, K, 2) with N = {n}, got {landmarks.shape}.")
  if (image_categories is None) != (filter_categories is None):
    raise ValueError("Give both image_categories and filter_categories, or neither.")
  if top_n < 2:
    raise ValueError(f"top_n must be at least 2, got {top_n}.")
  present = np.all(np.isfinite(landmarks), axis=-1)  # (N, K)
  result = np.full((f, landmarks.shape[1]), np.nan)
  for j in range(f):
    eligible = np.ones(n, bool)
    if image_categories is not None:
      eligible = np.asarray(image_categories) == np.asarray(filter_categories)[j]
    for k in range(landmarks.shape[1]):
      rows = np.nonzero(eligible & present[:, k])[0]
      if len(rows) < 2:
        continue
      top = rows[np.argsort(-scores[rows, j], kind="stable")[:top_n]]
      distances = np.linalg.norm(landmarks[top, k] - peaks[top, j], axis=-1)
      result[j, k] = statistic(distances)
  return result


def filter_instabilities(
  peaks, scores, landmarks, top_n=100, image_categories=None, filter_categories=None
):
  """Per-filter instability in pixels, `(F,)`: the mean over landmarks, NaN if any is NaN."""
  deviations = filter_landmark_deviations(
    peaks, scores, landmarks, top_n, image_categories, filter_categories
  )
  if deviations.shape[1] == 0:
    return np.full(deviations.shape[0], np.nan)
  return deviations.mean(axis=1)


def location_instability(
  peaks, scores, landmarks, image_shape, top_n=100, image_categories=None, filter_categories=None
):
  """Location instability of a layer's filters (SPEC section 2).

  Args:
    peaks: `(N, F, 2)` image-plane (row, col) of each filter's strongest unit.
    scores: `(N, F)` that strongest activation.
    landmarks: `(N, K, 2)` ground-truth part points (row, col), NaN where missing.
    image_shape: `(H, W)` of the network input.
    top_n: images per filter and landmark, by descending score.
    image_categories: `(N,)` categories, for the multi-category protocol.
    filter_categories: `(F,)` each filter's category.

  Returns:
    float: mean over non-NaN filters divided by `sqrt(H^2 + W^2)`; NaN when no
    filter qualifies.
  """
  per_filter = filter_instabilities(
    peaks, scores, landmarks, top_n, image_categories, filter_categories
  )
  if np.all(np.isnan(per_filter)):
    return float("nan")
  height, width = image_shape
  return float(np.nanmean(per_filter) / np.hypot(height, width))


def peaks_and_scores(maps, mapping):
  """Strongest unit of every map, mapped to pixels.

  Args:
    maps: `(N, L, L, F)` feature maps.
    mapping: a `UnitMapping` of that layer.

  Returns:
    `(peaks (N, F, 2), scores (N, F))`.
  """
  maps = np.asarray(maps)
  n, h, w, f = maps.shape
  flat = maps.reshape(n, h * w, f)
  index = np.argmax(flat, axis=1)  # (N, F)
  scores = np.take_along_axis(flat, index[:, None, :], axis=1)[:, 0]
  units = np.stack([index // w, index % w], axis=-1)
  return mapping.to_pixels(units), scores


def assign_filter_categories(scores, image_categories, num_categories):
  """Each filter's category: the one whose images activate it most on average."""
  scores = np.asarray(scores, np.float64)
  means = np.full((num_categories, scores.shape[1]), -np.inf)
  for c in range(num_categories):
    rows = np.asarray(image_categories) == c
    if rows.any():
      means[c] = scores[rows].mean(axis=0)
  return np.argmax(means, axis=0)
