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
"""

import numpy as np
import tensorflow as tf

from tf_explainer import replicas

GRADIENTS = ("exact", "approx")


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
        f"filter_loss expects feature maps of rank 4 (batch, L, L, C), got shape {x_shape}.")
  _, height, width, channels = x_shape
  if height is None or width is None or channels is None:
    raise ValueError(f"filter_loss needs static map sizes and channels, got shape {x_shape}.")
  if height != width:
    raise ValueError(f"filter_loss expects square feature maps, got shape {x_shape}.")
  if len(t_shape) != 3 or t_shape[1:] != (height, width) or t_shape[0] != height * width + 1:
    raise ValueError(
        f"Templates of shape {t_shape} do not fit feature maps of shape {x_shape}: "
        f"expected ({height * width + 1}, {height}, {width}).")
  return height, channels


def _forward(x, templates, log_prior):
  """Returns the per-filter loss and the tensors the gradients reuse.

  The batch is the global batch: under a multi-replica strategy the softmax
  over images and `r_bar` are reduced over all replicas, so every replica gets
  the loss of the whole batch and the exact gradient for its own maps.
  """
  # s[b, t, c]: fitness of map (b, c) to template t.
  s = tf.einsum("bhwc,thw->btc", x, templates)
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
  peak = tf.argmax(tf.reshape(x, [batch, size * size, -1]), axis=1,
                   output_type=tf.int32)  # (B, C), row-major unit index
  same = tf.equal(
      tf.cast(image_categories, tf.int32)[:, None], tf.cast(filter_categories, tf.int32)[None, :])
  return tf.where(same, peak, tf.fill(tf.shape(peak), num_templates - 1))


def filter_loss(x, templates, gradient="exact", image_categories=None, filter_categories=None,
                check_numerics=True):
  """Per-filter filter losses of a batch of post-ReLU feature maps.

  Args:
    x: 4D tensor `(batch, L, L, C)`, post-ReLU maps of `C` filters.
    templates: `(L*L + 1, L, L)` templates from `part_templates(L)`.
    gradient: `"exact"` for the true gradient of the formula, `"approx"` for
      the target-template gradient used in training.
    image_categories: optional int tensor `(batch,)`, the category of every
      image (the performer's prediction). With `gradient="approx"`, maps of
      images of the filter's category target `T_mu_hat` (`mu_hat` = argmax of
      the map), other maps target `T_minus`. Without categories the target is
      the template with the largest posterior `p(T | x)`.
    filter_categories: int tensor `(C,)`, each filter's category; required
      with `image_categories`.
    check_numerics: raise on NaN or Inf in `x` instead of returning NaN.

  Returns:
    tensor `(C,)`, float32 (float64 for float64 maps): `Loss_f` of every filter.

  Raises:
    ValueError: on shapes that do not fit, an unknown `gradient`, or
      categories given for only one side.
  """
  if gradient not in GRADIENTS:
    raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}.")
  if (image_categories is None) != (filter_categories is None):
    raise ValueError("filter_loss needs both image_categories and filter_categories, or neither.")
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
          f"{_static_shape(x)}.")
  x = tf.cast(x, dtype)
  if check_numerics:
    x = tf.debugging.check_numerics(x, "filter_loss: the feature maps contain NaN or Inf")
  log_prior = tf.fill([size * size + 1], tf.constant(-np.log(size * size + 1.0), dtype))

  @tf.custom_gradient
  def _loss(maps):
    loss, log_q, d_s = _forward(maps, templates, log_prior)

    def grad(upstream):
      if gradient == "exact":
        d_x = tf.einsum("btc,thw->bhwc", d_s, templates)
      else:
        target = _target_templates(maps, log_q, log_prior, size, image_categories,
                                   filter_categories)
        # Keep only the target template's term: one einsum, no gathers.
        keep = tf.one_hot(target, size * size + 1, axis=1, dtype=d_s.dtype)  # (B, M, C)
        d_x = tf.einsum("btc,thw->bhwc", d_s * keep, templates)
      return d_x * upstream[None, None, None, :]

    return loss, grad

  return _loss(x)


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
