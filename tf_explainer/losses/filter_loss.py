"""The filter loss: minus the mutual information between maps and part templates.

For one filter `f` and the set `X` of its post-ReLU maps in a batch:

    s(x, T)   = sum_ab x[a, b] * T[a, b]
    p(x | T)  = exp(s(x, T)) / sum_{x' in X} exp(s(x', T))
    p(x)      = sum_T p(T) p(x | T)
    Loss_f    = -sum_T p(T) sum_{x in X} p(x | T) log(p(x | T) / p(x))

Gradient. Writing `q = p(x | T)`, `r(x, T) = log(q / p(x))` and
`r_bar(T) = sum_x q r`, the exact derivative of `Loss_f` with respect to the
fitness `s(x, T)` is

    dLoss_f / ds(x, T) = -p(T) q(x | T) (r(x, T) - r_bar(T))

(the softmax over the batch contributes the `- r_bar` centring, and the terms
through `p(x)` cancel against the entropy of `p(x)`), and
`dLoss_f / dx[a, b] = sum_T dLoss_f / ds(x, T) * T[a, b]`.

The approximate gradient keeps only the term of the target template `T_hat` of
each map (one template instead of `L^2 + 1`). It has the sign and scale of that
term of the exact gradient, so once `T_hat` dominates `p(T | x)` it converges to
the exact gradient; `tests/losses/filter_loss_test.py` checks that it is a
descent direction.

The reference implementation's gradient (`gradient="icnn"`, SPEC section 1)
does not differentiate the formula. Per filter `d` and image `n`, with the
map's centre `mu_n` (centre of mass or argmax) and coordinates
`P_a = -1 + 2a / (L - 1)`:

    M_n(a, b) = max(1 - beta_d (|P_a - P_mu_row| + |P_b - P_mu_col|), -1)
    s_n = mean_ab x_n M_n,   m_n = mean_ab x_n,   s~_n = mean_ab x_n M'_n
    A+  = alpha log mean_n exp(s~_n / alpha),   A- = alpha log mean_n exp(-m_n / alpha)
    g_n = exp(s_n / alpha) (s_n - A+ + alpha)      (image of the filter's category)
    g_n = exp(-m_n / alpha) (-m_n - A- + alpha)    (other images)
    dLoss_f / dx_n = -g^_n M_n (own category),  +g^_n (others)

where `M'_n` is the mask of image `B-1-n` and filter `D-1-d` (an estimate of
the partition function from unrelated templates), `alpha = 0.5`, and `g^` is
`g` divided by the mean of its group (own category, others) over the batch.
Nothing in it is differentiated; the logged loss stays the formula above.
"""

import numpy as np
import tensorflow as tf

from tf_explainer import replicas
from tf_explainer.templates import CENTRES, icnn_centres, icnn_masks  # noqa: F401 (re-exported)

from tf_explainer.configs import GRADIENTS  # noqa: F401 (this module's name)

ICNN_ALPHA = 0.5


def _static_shape(tensor):
  return tuple(tensor.shape.as_list())


def check_inputs(x, templates):
  """Validates shapes; returns `(L, C)`.

  Raises:
    ValueError: naming both shapes when they do not fit together.
  """
  x_shape = _static_shape(x)
  t_shape = _static_shape(templates)
  if len(x_shape) != 4:
    raise ValueError(
      f"filter_loss expects feature maps of rank 4 (batch, L, L, C), got shape {x_shape}."
    )
  _, height, width, channels = x_shape
  if height is None or width is None or channels is None:
    raise ValueError(f"filter_loss needs static map sizes and channels, got shape {x_shape}.")
  if height != width:
    raise ValueError(f"filter_loss expects square feature maps, got shape {x_shape}.")
  if len(t_shape) != 3 or t_shape[1:] != (height, width) or t_shape[0] != height * width + 1:
    raise ValueError(
      f"Templates of shape {t_shape} do not fit feature maps of shape {x_shape}: "
      f"expected ({height * width + 1}, {height}, {width})."
    )
  return height, channels


def _fitness(x, templates):
  """`s[b, t, c] = sum_hw x[b, h, w, c] T[t, h, w]`, `(B, M, C)`: the fitness of each map
  to each template, as one matmul (`tf.einsum` took twice as long on CPU)."""
  size, channels = x.shape[1], x.shape[3]
  flat = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, size * size])  # (B C, L^2)
  s = tf.matmul(flat, tf.reshape(templates, [-1, size * size]), transpose_b=True)  # (B C, M)
  return tf.transpose(tf.reshape(s, [-1, channels, templates.shape[0]]), [0, 2, 1])


def _template_sum(d_s, templates):
  """`d_x[b, h, w, c] = sum_t d_s[b, t, c] T[t, h, w]`: back from templates to maps."""
  num, size = templates.shape[0], templates.shape[1]
  channels = d_s.shape[2]
  flat = tf.reshape(tf.transpose(d_s, [0, 2, 1]), [-1, num])  # (B C, M)
  d_x = tf.matmul(flat, tf.reshape(templates, [num, size * size]))  # (B C, L^2)
  return tf.transpose(tf.reshape(d_x, [-1, channels, size, size]), [0, 2, 3, 1])


def _target_template_term(d_s, templates, target):
  """`d_x[b, :, :, c] = d_s[b, t, c] T[t]` for each map's target template `t = target[b, c]`:
  the one term of `_template_sum` the approximate gradient keeps, gathered."""
  num, size = templates.shape[0], templates.shape[1]
  channels = d_s.shape[2]
  coefficient = tf.gather(tf.transpose(d_s, [0, 2, 1]), target, axis=2, batch_dims=2)  # (B, C)
  chosen = tf.gather(tf.reshape(templates, [num, size * size]), target)  # (B, C, L^2)
  d_x = coefficient[..., None] * chosen
  return tf.transpose(tf.reshape(d_x, [-1, channels, size, size]), [0, 2, 3, 1])


def _forward(x, templates, log_prior):
  """Returns the per-filter loss and the tensors the gradients reuse.

  The batch is the global batch: under a multi-replica strategy the softmax
  over images and `r_bar` are reduced over all replicas, so every replica gets
  the loss of the whole batch and the exact gradient for its own maps.
  """
  s = _fitness(x, templates)
  shift = tf.stop_gradient(replicas.global_max(tf.reduce_max(s, axis=0, keepdims=True)))
  total = replicas.global_sum(tf.reduce_sum(tf.exp(s - shift), axis=0, keepdims=True))
  log_q = s - (shift + tf.math.log(total))
  log_px = tf.reduce_logsumexp(log_q + log_prior[None, :, None], axis=1, keepdims=True)
  q = tf.exp(log_q)
  r = log_q - log_px
  r_bar = replicas.global_sum(tf.reduce_sum(q * r, axis=0, keepdims=True))  # (1, M, C)
  prior = tf.exp(log_prior)
  loss = -tf.reduce_sum(prior[:, None] * r_bar[0], axis=0)
  # dLoss/ds, (B, M, C).
  d_s = -prior[None, :, None] * q * (r - r_bar)
  return loss, log_q, d_s


def _target_templates(x, log_q, log_prior, size, image_categories, filter_categories):
  """Index of the target template of every map, shape `(B, C)`."""
  num_templates = size * size + 1
  if image_categories is None:
    # Without categories, the template that best explains the map.
    return tf.argmax(log_q + log_prior[None, :, None], axis=1, output_type=tf.int32)
  batch = tf.shape(x)[0]
  peak = tf.argmax(
    tf.reshape(x, [batch, size * size, -1]), axis=1, output_type=tf.int32
  )  # (B, C), row-major unit index
  same = tf.equal(
    tf.cast(image_categories, tf.int32)[:, None], tf.cast(filter_categories, tf.int32)[None, :]
  )
  return tf.where(same, peak, tf.fill(tf.shape(peak), num_templates - 1))


def _finite(values, group):
  """Inf -> the largest finite value of the group, NaN -> 0 (the reference's clean-up)."""
  finite = tf.math.is_finite(values)
  largest = replicas.global_max(
    tf.reduce_max(tf.where(finite & group, values, tf.fill(tf.shape(values), values.dtype.min)))
  )
  values = tf.where(tf.math.is_inf(values), largest, values)
  return tf.where(tf.math.is_nan(values), tf.zeros_like(values), values)


def icnn_strengths(x, masks, positive, alpha=ICNN_ALPHA):
  """The normalised per-image strengths `g^`, `(B, C)`, and the raw `g`.

  Args:
    x: `(B, L, L, C)` post-ReLU maps.
    masks: `(B, L, L, C)` from `icnn_masks`.
    positive: `(B, C)` bool, whether image `n` is of filter `d`'s category.
    alpha: the temperature.

  Returns:
    `(g_hat, g)`, both `(B, C)`; each group's `g_hat` has mean 1 per filter
    (over the global batch) where the group is not empty.
  """
  s = tf.reduce_mean(x * masks, axis=[1, 2])
  m = tf.reduce_mean(x, axis=[1, 2])
  s_tilde = tf.reduce_mean(x * tf.reverse(masks, axis=[0, 3]), axis=[1, 2])
  count = replicas.global_sum(tf.cast(tf.shape(x)[0], x.dtype))
  everything = tf.ones_like(positive)

  def log_mean_exp(values):  # alpha log mean_n exp(values / alpha), over the global batch
    shift = tf.stop_gradient(replicas.global_max(tf.reduce_max(values, axis=0)))
    total = replicas.global_sum(tf.reduce_sum(tf.exp((values - shift) / alpha), axis=0))
    return alpha * tf.math.log(total / count) + shift

  a_pos = _finite(log_mean_exp(s_tilde)[None, :], everything[:1])
  a_neg = _finite(log_mean_exp(-m)[None, :], everything[:1])
  g = tf.where(
    positive, tf.exp(s / alpha) * (s - a_pos + alpha), tf.exp(-m / alpha) * (-m - a_neg + alpha)
  )
  g_hat = tf.zeros_like(g)
  for group in (positive, tf.logical_not(positive)):
    values = _finite(g, group)
    weight = tf.cast(group, g.dtype)
    mean = replicas.global_sum(tf.reduce_sum(values * weight, axis=0)) / replicas.global_sum(
      tf.reduce_sum(weight, axis=0)
    )  # (C,), NaN for an empty group
    normalised = _finite(values / mean[None, :], group)
    g_hat = tf.where(group, normalised, g_hat)
  return g_hat, g


def icnn_gradient(x, masks, positive, alpha=ICNN_ALPHA):
  """The reference implementation's `dLoss_f / dx`, `(B, L, L, C)` (unit weight).

  `-g^_n M_n` for maps of the filter's category (a descent step raises the
  map where `M > 0` and lowers it where `M < 0`), `+g^_n` on every unit of
  other maps (a descent step silences them).
  """
  g_hat, _ = icnn_strengths(x, masks, positive, alpha)
  g_hat = g_hat[:, None, None, :]
  return tf.where(positive[:, None, None, :], -g_hat * masks, g_hat * tf.ones_like(masks))


def icnn_beta_target(x, masks, positive, centre="mass", alpha=ICNN_ALPHA):
  """Where each filter's adaptive `beta` moves: `clip(3 / sigma_bar_d, 1.5, 3)`, `(C,)`.

  `sigma_n = sqrt(sum x_n dist^2 / sum x_n)` is the map's spread in units
  around its centre and `sigma_bar_d` the `g`-weighted mean of `sigma` over
  the filter's own-category images; a filter without such images keeps the
  target 3 / 1 clipped, i.e. 3.
  """
  size = x.shape[1]
  mu = icnn_centres(x, centre)
  units = tf.range(size, dtype=x.dtype)
  dist2 = tf.square(units[None, :, None, None] - mu[:, None, None, :, 0]) + tf.square(
    units[None, None, :, None] - mu[:, None, None, :, 1]
  )  # (B, L, L, C)
  total = tf.maximum(tf.reduce_sum(x, axis=[1, 2]), 1e-9)
  sigma = tf.sqrt(tf.reduce_sum(x * dist2, axis=[1, 2]) / total)  # (B, C)
  _, g = icnn_strengths(x, masks, positive, alpha)
  weight = tf.where(positive, g, tf.zeros_like(g))
  sigma_bar = replicas.global_sum(tf.reduce_sum(weight * sigma, axis=0)) / replicas.global_sum(
    tf.reduce_sum(weight, axis=0)
  )
  sigma_bar = tf.where(
    tf.math.is_finite(sigma_bar) & (sigma_bar > 0), sigma_bar, tf.ones_like(sigma_bar)
  )
  return tf.clip_by_value(3.0 / sigma_bar, 1.5, 3.0)


def filter_loss(
  x,
  templates,
  gradient="exact",
  image_categories=None,
  filter_categories=None,
  check_numerics=True,
  beta=2.0,
  centre="mass",
  masks=None,
):
  """Per-filter filter losses of a batch of post-ReLU feature maps.

  Args:
    x: 4D tensor `(batch, L, L, C)`, post-ReLU maps of `C` filters.
    templates: `(L*L + 1, L, L)` templates from `part_templates(L)`.
    gradient: `"exact"` for the true gradient of the formula, `"approx"` for
      the target-template gradient used in training, `"icnn"` for the
      reference implementation's injected gradient (module docstring).
    image_categories: optional int tensor `(batch,)`, the category of every
      image (the performer's prediction). With `gradient="approx"`, maps of
      images of the filter's category target `T_mu_hat` (`mu_hat` = argmax of
      the map), other maps target `T_minus`. Without categories the target is
      the template with the largest posterior `p(T | x)`.
    filter_categories: int tensor `(C,)`, each filter's category; required
      with `image_categories`.
    check_numerics: raise on NaN or Inf in `x` instead of returning NaN.
    beta: `"icnn"` only: scalar or `(C,)`, each filter's mask sharpness.
    centre: `"icnn"` only: `"mass"` (the reference's) or `"argmax"` (the paper's).
    masks: `"icnn"` only: the masks `M` (`icnn_masks`), when they come from
      other maps than `x` (the explainer's second layer takes the loss on a
      mix of its map and the ordinary track's but masks its own map).

  Returns:
    tensor `(C,)`, float32 (float64 for float64 maps): `Loss_f` of every filter.

  Raises:
    ValueError: on shapes that do not fit, an unknown `gradient`, or
      categories given for only one side.
  """
  x, templates, size, channels = _checked_inputs(
    x, templates, gradient, image_categories, filter_categories, centre
  )
  if check_numerics:
    x = tf.debugging.check_numerics(x, "filter_loss: the feature maps contain NaN or Inf")
  log_prior = tf.fill([size * size + 1], tf.constant(-np.log(size * size + 1.0), x.dtype))

  @tf.custom_gradient
  def _loss(maps):
    loss, log_q, d_s = _forward(maps, templates, log_prior)

    def grad(upstream):
      if gradient == "exact":
        d_x = _template_sum(d_s, templates)
      elif gradient == "icnn":
        d_x = _icnn_input_gradient(
          maps, channels, image_categories, filter_categories, beta, centre, masks
        )
      else:
        target = _target_templates(
          maps, log_q, log_prior, size, image_categories, filter_categories
        )
        d_x = _target_template_term(d_s, templates, target)
      return d_x * upstream[None, None, None, :]

    return loss, grad

  return _loss(x)


def _checked_inputs(x, templates, gradient, image_categories, filter_categories, centre):
  """`(x, templates, L, C)` as tensors of one float dtype, after the arguments' checks."""
  if gradient not in GRADIENTS:
    raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}.")
  if (image_categories is None) != (filter_categories is None):
    raise ValueError("filter_loss needs both image_categories and filter_categories, or neither.")
  if centre not in CENTRES:
    raise ValueError(f"centre must be one of {CENTRES}, got {centre!r}.")
  x = tf.convert_to_tensor(x)
  # float64 stays float64 (gradient checks); everything else is computed in float32.
  dtype = tf.float64 if x.dtype == tf.float64 else tf.float32
  templates = tf.cast(tf.convert_to_tensor(templates), dtype)
  size, channels = check_inputs(x, templates)
  if filter_categories is not None:
    f_shape = _static_shape(tf.convert_to_tensor(filter_categories))
    if f_shape != (channels,):
      raise ValueError(
        f"filter_categories of shape {f_shape} do not fit {channels} filters of maps "
        f"{_static_shape(x)}."
      )
  return tf.cast(x, dtype), templates, size, channels


def _icnn_input_gradient(maps, channels, image_categories, filter_categories, beta, centre, masks):
  """The reference implementation's gradient of the maps (`icnn_gradient`), with its masks."""
  if image_categories is None:  # no categories: every image is the filter's own
    positive = tf.ones(tf.stack([tf.shape(maps)[0], channels]), tf.bool)
  else:
    positive = tf.equal(
      tf.cast(image_categories, tf.int32)[:, None],
      tf.cast(filter_categories, tf.int32)[None, :],
    )
  icnn = icnn_masks(maps, beta, centre) if masks is None else tf.cast(masks, maps.dtype)
  return icnn_gradient(maps, tf.stop_gradient(icnn), positive)


def weighted_filter_loss(x, templates, weights, **kwargs):
  """`sum_f weights[f] * Loss_f`, the form a model adds to its loss.

  Args:
    x: 4D tensor `(batch, L, L, C)`.
    templates: `(L*L + 1, L, L)` templates.
    weights: `(C,)` per-filter weights `lambda_f`, treated as constants.
    **kwargs: passed on to `filter_loss`.

  Returns:
    `(total, per_filter)`: the weighted sum and the unweighted `(C,)` losses.
  """
  per_filter = filter_loss(x, templates, **kwargs)
  total = tf.reduce_sum(tf.stop_gradient(tf.cast(weights, per_filter.dtype)) * per_filter)
  return total, per_filter
