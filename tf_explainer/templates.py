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
