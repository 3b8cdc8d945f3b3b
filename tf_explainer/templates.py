"""Part templates of the filter loss and the masks of `TemplateMask`.

For an `L x L` feature map there are `L^2` positive templates, one per unit
`mu = (i, j)`, and one negative template:

    T_mu[a, b]    = tau * max(1 - beta * (|a - i| + |b - j|) / L, -1)
    T_minus[a, b] = -tau
    tau = 0.5 / L^2

The positive templates come in row-major order of `mu` (`k = i * L + j`), the
negative one last.
"""

import numpy as np
import tensorflow as tf

from tf_explainer.configs import CENTRES  # noqa: F401 (this module's name)

DEFAULT_BETA = 4.0


def default_tau(size):
  """The template scale `tau = 0.5 / L^2` for an `L x L` map."""
  return 0.5 / float(size * size)


def _check_size(size):
  if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
    raise ValueError(f"Template size must be a positive integer, got {size!r}.")


def template_distances(size):
  """Normalised L1 distances `(|a - i| + |b - j|) / L` of every unit to every unit.

  Args:
    size: `L`, the side of the square feature map.

  Returns:
    float64 array `(L*L, L, L)`: entry `[k, a, b]` is the distance of unit
    `(a, b)` from unit `mu_k = (k // L, k % L)`, divided by `L`.
  """
  _check_size(size)
  grid = np.arange(size, dtype=np.float64)
  rows = np.abs(grid[:, None, None, None] - grid[None, None, :, None])  # (i, 1, a, 1)
  cols = np.abs(grid[None, :, None, None] - grid[None, None, None, :])  # (1, j, 1, b)
  return ((rows + cols) / size).reshape(size * size, size, size)


def part_templates(size, beta=DEFAULT_BETA, tau=None):
  """All `L^2 + 1` templates of the filter loss.

  Args:
    size: `L`, the side of the square feature map.
    beta: how fast a positive template falls off with L1 distance.
    tau: template scale; defaults to `0.5 / L^2`.

  Returns:
    float32 array `(L*L + 1, L, L)`: positive templates in row-major order of
    `mu`, then the negative template.
  """
  _check_size(size)
  if tau is None:
    tau = default_tau(size)
  if tau <= 0:
    raise ValueError(f"tau must be positive, got {tau}.")
  positive = tau * np.maximum(1.0 - beta * template_distances(size), -1.0)
  negative = np.full((1, size, size), -tau)
  return np.concatenate([positive, negative], axis=0).astype(np.float32)


def mask_templates(size, beta=DEFAULT_BETA):
  """The masks of `TemplateMask`: positive templates without tau, clipped at 0.

  Returns:
    float32 array `(L*L, L, L)`, mask `k` centred on unit `(k // L, k % L)`.
  """
  return np.maximum(1.0 - beta * template_distances(size), 0.0).astype(np.float32)


def template_prior(size):
  """The constant prior `p(T) = 1 / (L^2 + 1)` of every template."""
  _check_size(size)
  return 1.0 / float(size * size + 1)


# Where the reference implementation's mask is centred on each map (see losses.filter_loss).


def _round_half_away(value):
  return tf.sign(value) * tf.floor(tf.abs(value) + 0.5)


def icnn_centres(x, centre="mass"):
  """Each map's centre unit, `(B, C, 2)` float (row, col), 0-based.

  `"mass"`: the centre of mass of the map, rounded half away from zero (an
  all-zero map gives unit (0, 0)); `"argmax"`: the strongest unit (row-major
  first on ties).
  """
  if centre not in CENTRES:
    raise ValueError(f"centre must be one of {CENTRES}, got {centre!r}.")
  size = x.shape[1]
  x = tf.convert_to_tensor(x)
  if centre == "argmax":
    flat = tf.argmax(
      tf.reshape(x, [tf.shape(x)[0], size * size, -1]), axis=1, output_type=tf.int32
    )  # (B, C)
    return tf.cast(tf.stack([flat // size, flat % size], axis=-1), x.dtype)
  units = tf.range(size, dtype=x.dtype)
  total = tf.maximum(tf.reduce_sum(x, axis=[1, 2]), 1e-9)  # (B, C)
  rows = tf.einsum("bhwc,h->bc", x, units) / total
  cols = tf.einsum("bhwc,w->bc", x, units) / total
  return tf.stack([_round_half_away(rows), _round_half_away(cols)], axis=-1)


def icnn_masks(x, beta, centre="mass"):
  """The reference implementation's masks `M_n`, `(B, L, L, C)`, values in [-1, 1].

  Args:
    x: `(B, L, L, C)` post-ReLU maps.
    beta: `(C,)` or scalar, each filter's mask sharpness (2 at the start).
    centre: `"mass"` or `"argmax"`, see `icnn_centres`.
  """
  x = tf.convert_to_tensor(x)
  size = x.shape[1]
  mu = icnn_centres(x, centre)  # (B, C, 2) in units
  scale = 2.0 / (size - 1) if size > 1 else 0.0
  coords = -1.0 + scale * tf.range(size, dtype=x.dtype)  # P_a
  mu = -1.0 + scale * mu
  d_rows = tf.abs(coords[None, :, None] - mu[:, None, :, 0])  # (B, L, C)
  d_cols = tf.abs(coords[None, :, None] - mu[:, None, :, 1])
  distance = d_rows[:, :, None, :] + d_cols[:, None, :, :]  # (B, L, L, C)
  beta = tf.cast(beta, x.dtype)
  return tf.maximum(1.0 - beta * distance, -1.0)
