"""Part tracking: does a filter's peak follow one object part from image to image?

Location instability rewards any filter whose peak stays put: a point fixed
at the crop's centre scores better than real part detectors. Part tracking
asks instead whether the peak lands *on a part*, more often than it would if
the part were somewhere else. A filter f tracks part k when all of these hold:

* it fires (its strongest unit > 0) on at least `min_firing` of the images;
* on the images where it fires and part k is annotated, its peak lies within
  `radius` times the image side of part k on at least `min_rate` of them;
* that rate is at least `min_margin` above the same rate with the landmarks
  shuffled across images (a filter fixed at the centre, or one that fires
  everywhere near the object, hits a shuffled part about as often as the
  true one).

A filter that tracks several parts is counted for the one it hits most often.
Filters whose peaks coincide (within `radius / 2` of the side) on at least
`same_pattern` of the images where both fire form one *pattern*: a network
whose filters are copies of one detector has many filters but one pattern.
"""

import warnings

import numpy as np

RADIUS = 1 / 8
MIN_FIRING = 0.5
MIN_RATE = 0.5
MIN_MARGIN = 0.2
SAME_PATTERN = 0.9


def hit_rates(peaks, scores, landmarks, side, radius=RADIUS):
  """`(F, K)` share of the images where filter f fires and part k exists with a hit.

  Args:
    peaks: `(N, F, 2)` image-plane (row, col) of each filter's strongest unit.
    scores: `(N, F)` that unit's activation.
    landmarks: `(N, K, 2)` (row, col); NaN where a part is missing. Or `(N, K, M, 2)`:
      a part with up to M places (say, either eye), NaN-padded; a peak near any of them hits.
    side: the image side in pixels.

  Returns:
    `(rates (F, K), counts (F, K))`; rates are NaN where no image qualifies.
  """
  peaks = np.asarray(peaks, np.float64)
  landmarks = np.asarray(landmarks, np.float64)
  if landmarks.ndim == 3:
    landmarks = landmarks[:, :, None, :]
  fires = np.asarray(scores) > 0
  places = np.linalg.norm(peaks[:, :, None, None, :] - landmarks[:, None], axis=-1)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: a part missing on an image
    distance = np.nanmin(places, axis=-1)
  valid = fires[:, :, None] & np.isfinite(distance)
  hits = valid & (np.nan_to_num(distance, nan=np.inf) <= radius * side)
  counts = valid.sum(0)
  with np.errstate(invalid="ignore", divide="ignore"):
    rates = np.where(counts > 0, hits.sum(0) / np.maximum(counts, 1), np.nan)
  return rates, counts


def _shuffles(n, num, seed):
  """`num` random permutations of `range(n)` that move every image (n >= 2): one cycle each."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(num):
    order = rng.permutation(n)
    perm = np.empty(n, int)
    perm[order] = np.roll(order, 1)
    out.append(perm)
  return out


def patterns(peaks, scores, side, radius=RADIUS, same=SAME_PATTERN):
  """`(F,)` pattern index of each filter (greedy, in filter order)."""
  peaks = np.asarray(peaks, np.float64)
  fires = np.asarray(scores) > 0
  labels = np.full(peaks.shape[1], -1)
  representatives = []
  for f in range(peaks.shape[1]):
    if representatives:
      reps = np.array(representatives)
      close = np.linalg.norm(peaks[:, reps] - peaks[:, f : f + 1], axis=-1) <= radius * side / 2
      both = fires[:, reps] & fires[:, f : f + 1]
      share = (close & both).sum(0) / np.maximum(both.sum(0), 1)
      match = np.flatnonzero((share >= same) & (both.sum(0) > 0))
      if match.size:
        labels[f] = labels[reps[match[0]]]
        continue
    labels[f] = len(representatives)
    representatives.append(f)
  return labels


def _summary(part, pattern, names, num_images):
  """The JSON-ready counts of `part_tracking` from each filter's part and pattern."""
  num_filters = len(part)
  tracks = part >= 0
  num_patterns = int(pattern.max()) + 1 if num_filters else 0
  tracking_patterns = {int(pattern[f]) for f in np.flatnonzero(tracks)}
  return {
    "filters": int(num_filters),
    "images": int(num_images),
    "tracking": int(tracks.sum()),
    "share": float(tracks.mean()) if num_filters else None,
    "per_part": {name: int(np.sum(part == k)) for k, name in enumerate(names)},
    "patterns": num_patterns,
    "tracking_patterns": len(tracking_patterns),
    "pattern_share": len(tracking_patterns) / num_patterns if num_patterns else None,
    "per_part_patterns": {
      name: len({int(pattern[f]) for f in np.flatnonzero(part == k)})
      for k, name in enumerate(names)
    },
  }


def part_tracking(
  peaks,
  scores,
  landmarks,
  side,
  part_names=None,
  radius=RADIUS,
  min_firing=MIN_FIRING,
  min_rate=MIN_RATE,
  min_margin=MIN_MARGIN,
  num_shuffles=5,
  seed=0,
):
  """Which filters track which part; see the module docstring.

  Returns:
    `(summary, per_filter)`. `summary` (JSON-ready): `filters`, `tracking`,
    `share`, `per_part` (filters per part), `patterns`, `tracking_patterns`,
    `pattern_share`, `per_part_patterns`, and the thresholds. `per_filter`:
    numpy `part` (`(F,)`, -1 where none), `rate` and `shuffled_rate` of that
    part (or of the best part), `firing` share and `pattern`.
  """
  peaks, landmarks = np.asarray(peaks, np.float64), np.asarray(landmarks, np.float64)
  n, num_filters = np.asarray(scores).shape
  num_parts = landmarks.shape[1]
  names = list(part_names) if part_names is not None else [str(k) for k in range(num_parts)]
  rates, counts = hit_rates(peaks, scores, landmarks, side, radius)
  if n >= 2:
    perms = _shuffles(n, num_shuffles, seed)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: filters that never fire
      shuffled = np.nanmean(
        [hit_rates(peaks, scores, landmarks[p], side, radius)[0] for p in perms], axis=0
      )
  else:
    shuffled = np.full_like(rates, np.nan)
  firing = np.mean(np.asarray(scores) > 0, axis=0) if n else np.zeros(num_filters)
  with np.errstate(invalid="ignore"):
    ok = (
      (firing[:, None] >= min_firing)
      & (counts >= 2)
      & (rates >= min_rate)
      & (rates - shuffled >= min_margin)
    )
  best = np.argmax(np.where(ok, rates, -1.0), axis=1)
  tracks = ok.any(axis=1)
  part = np.where(tracks, best, -1)
  shown = np.where(tracks, best, np.argmax(np.nan_to_num(rates, nan=-1.0), axis=1))
  pattern = patterns(peaks, scores, side, radius) if num_filters else np.zeros(0, int)
  summary = _summary(part, pattern, names, n)
  summary["thresholds"] = {
    "radius": radius,
    "min_firing": min_firing,
    "min_rate": min_rate,
    "min_margin": min_margin,
    "same_pattern": SAME_PATTERN,
  }
  rows = np.arange(num_filters)
  per_filter = {
    "part": part,
    "rate": rates[rows, shown] if num_parts else np.zeros(num_filters),
    "shuffled_rate": shuffled[rows, shown] if num_parts else np.zeros(num_filters),
    "firing": firing,
    "pattern": pattern,
  }
  return summary, per_filter


def fixed_point_peaks(landmarks, num_filters=1):
  """`(N, num_filters, 2)` peaks all at the mean landmark: the centre-bias control."""
  landmarks = np.asarray(landmarks, np.float64)
  centre = np.nanmean(landmarks.reshape(-1, 2), axis=0)
  return np.broadcast_to(centre, (landmarks.shape[0], num_filters, 2)).copy()


def landmark_peaks(landmarks):
  """Peaks exactly on each landmark, one filter per part, and their scores: the perfect tracker.

  Its location instability is the floor a filter that follows one part can reach on these
  images (what is left is how the other parts move against it). Where a part is missing,
  its filter sits at that part's mean and scores 0, so that the top images of the measure
  are the ones that have the part.

  Returns:
    `(N, K, 2)` peaks and `(N, K)` scores (1 where the part is there).
  """
  landmarks = np.asarray(landmarks, np.float64)
  mean = np.nanmean(landmarks, axis=0, keepdims=True)
  peaks = np.where(np.isnan(landmarks), mean, landmarks)
  return peaks, np.isfinite(landmarks).all(-1).astype(np.float64)
