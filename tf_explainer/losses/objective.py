"""The explainer's loss terms, as pure functions of the forward outputs and weights.

Per image, batch means throughout (SPEC section 1):

    sum_l lambda_l * ||x_l - x*_l||^2  -  eta * log p  +  sum_f lambda_f * Loss_f

* `lambda_l = lambda_l_scale / E||max(x*_l, 0)||` (`reconstruction_weights`;
  5e4 in the paper).
* `eta` is applied once per image, like the reconstruction term (the paper's
  1e6 / 1.5e5 assume MatConvNet's sums; `ExplainerConfig.eta` records ours).
* `Loss_f` is the filter loss of every interpretable filter of every
  interpretable layer. On the last one it sees `x'_f = p x_f + (1 - p)
  stop_gradient(x_ordin_f)` (`filter_loss_inputs`), so it raises p and trains
  the filter but sends no gradient into the ordinary track. `x_f` is the
  post-ReLU, pre-mask map.
* `lambda_f = E||dLoss_rec/dx_f|| / E||dLoss_f/dx_f|| / (lambda_f_divisor * N)`
  for epoch N (`filter_loss_weights`); the trainer accumulates the norms.

Not in the paper: `+ overlap_weight * overlap` (`overlap`), how much the last
interpretable layer's masked maps fire at the same units, or with `overlap_cap`
`+ overlap_weight * crowding` (`crowding`), the share of the filters at one unit
beyond that quota; 0 by default, an ablation (docs/research-log.md). Nor
`+ equivariance_weight * equivariance` (`equivariance`): how far the last interpretable
layer's soft peaks fail to follow a known zoom of the image, its maps on the image against
those on a crop of it (label-free; 0 by default, an ablation).

Every function takes what `Explainer.forward` returns (`out`) and plain
tensors; none holds state.
"""

import numpy as np
import tensorflow as tf

from tf_explainer.losses.filter_loss import filter_loss


def reconstruction_terms(fc, targets, names, lambda_l):
  """`{"rec_<name>": lambda_l * E||x_l - x*_l||^2}` for each reconstructed fc layer.

  Args:
    fc: the decoder's outputs, `out["fc"]`.
    targets: dict with the performer's post-ReLU features under `names`.
    names: the fc layers' names (`ExplainerConfig.fc_names`).
    lambda_l: `(len(names),)` weights.
  """
  terms = {}
  for i, (name, x) in enumerate(zip(names, fc)):
    target = tf.cast(targets[name], tf.float32)
    err = tf.reduce_mean(tf.reduce_sum(tf.square(tf.cast(x, tf.float32) - target), axis=-1))
    terms[f"rec_{name}"] = lambda_l[i] * err
  return terms


def reconstruction_weights(mean_norms, lambda_l_scale):
  """`lambda_l = lambda_l_scale / E||max(x*_l, 0)||` from measured norms (float64 numpy)."""
  norms = np.asarray(mean_norms, dtype=np.float64)
  if not np.all(norms > 0):
    raise ValueError(f"Need positive mean norms of the reconstructed fc layers, got {mean_norms}.")
  return lambda_l_scale / norms


def classification_term(fc_last, kernel, bias, labels, scale):
  """The Explainer+cls data term: `scale * CE(classifier(fc_last), labels)`."""
  logits = tf.matmul(tf.cast(fc_last, tf.float32), kernel) + bias
  labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
  return scale * tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def log_p_term(p, eta):
  """`-eta * log p`, once per image."""
  return -eta * tf.math.log(p)


def _unit_shares(masked):
  """Each filter's masked map normalised to sum 1 (`q_f`; an all-zero map stays zero)."""
  x = tf.cast(masked, tf.float32)
  return x / tf.maximum(tf.reduce_sum(x, axis=[1, 2], keepdims=True), 1e-12)


def overlap(masked):
  """How much the interpretable filters fire at the same places, per batch.

  Per image, each filter's masked map normalised to sum 1 (`q_f`); the mean
  over ordered pairs `f != g` of `sum_u q_f(u) q_g(u)`, averaged over the
  batch. 1 when every filter fires at one unit, the same one; 0 when no two
  filters fire at any unit together.

  Args:
    masked: `(B, L, L, D)` maps, `out["masked"][-1]`.

  Returns:
    float32 scalar.
  """
  q = _unit_shares(masked)
  d = tf.cast(tf.shape(q)[-1], tf.float32)
  together = tf.reduce_sum(tf.square(tf.reduce_sum(q, axis=-1)), axis=[1, 2])  # all pairs
  alone = tf.reduce_sum(tf.square(q), axis=[1, 2, 3])  # the pairs f == g
  return tf.reduce_mean(together - alone) / tf.maximum(d * (d - 1.0), 1.0)


def crowding(masked, cap):
  """How far the interpretable filters crowd one place beyond a quota, per batch.

  Per image, the filters' share at each unit, `s(u) = sum_f q_f(u) / D` (`q_f`
  as in `overlap`); the sum over units of `max(s(u) - cap, 0)^2`, averaged over
  the batch. 0 while no unit holds more than `cap` of the filters, however
  many pairs share units below it; `(1 - cap)^2` when every filter fires at one
  unit. Unlike `overlap` it leaves filters that share a part alone until they
  crowd it.

  Args:
    masked: `(B, L, L, D)` maps, `out["masked"][-1]`.
    cap: the share of the filters one unit may hold without cost, in (0, 1].

  Returns:
    float32 scalar.
  """
  q = _unit_shares(masked)
  d = tf.cast(tf.shape(q)[-1], tf.float32)
  share = tf.reduce_sum(q, axis=-1) / d
  return tf.reduce_mean(tf.reduce_sum(tf.square(tf.nn.relu(share - cap)), axis=[1, 2]))


# The softmax temperature of the equivariance term's heatmaps, on maps scaled to unit spread
# (benchmarks/part_ceiling.py's label-free filters used the same).
EQUIVARIANCE_TEMPERATURE = 0.1


def heatmaps(logits, temperature):
  """`(B, L, L, F)` maps -> `(B, F, L * L)`: a softmax over each map's units."""
  f = logits.shape[-1]
  flat = tf.reshape(tf.transpose(logits, [0, 3, 1, 2]), [tf.shape(logits)[0], f, -1])
  return tf.nn.softmax(tf.cast(flat, tf.float32) / temperature, -1)


def unit_centres(side):
  """The centres of a `side x side` map's units, `(side * side, 2)` (row, col), in an image's
  normalised coordinates: `(u + 0.5) / side`, the map laid evenly over the image."""
  grid = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1)
  return tf.constant((grid.reshape(-1, 2) + 0.5) / side, tf.float32)


def warp_points(points, boxes):
  """Points `(..., U, 2)` in an image's normalised coordinates -> the same points in its
  crops `boxes` `(B, 4)` resized to the image's size, `(B, U, 2)`.

  Boxes and points follow `tf.image.crop_and_resize`: normalised `(y0, x0, y1, x1)`, 0 and 1
  the first and last pixel centres.
  """
  boxes = tf.convert_to_tensor(boxes, tf.float32)
  start = boxes[:, None, :2]
  return (tf.cast(points, tf.float32) - start) / (boxes[:, None, 2:] - start)


def equivariance_loss(before, after, units, boxes, weights=None):
  """How far soft peaks fail to follow a zoom, per batch.

  For each image and filter, `sum_{u, v} ||u - T(v)||^2 after(u) before(v)`, where `before`
  and `after` are `(B, F, U)` heatmaps (`heatmaps`) of an image and of its crop `boxes`
  (`(B, 4)`), `units` `(U, 2)` the units' normalised centres (`unit_centres`) and `T` carries
  a point of the image into the crop (`warp_points`); units `v` the crop leaves out do not
  count. Zero only for maps peaked at one unit whose image under `T` is where the crop's map
  peaks. The mean over filters, and over images weighted by `weights` (`(B,)`; all 1 when
  `None`). Computed from the heatmaps' first and second moments, in O(B F U) rather than
  over every pair of units.
  """
  moved = warp_points(units[None], boxes)  # (B, U, 2)
  inside = tf.cast(tf.reduce_all((moved >= 0.0) & (moved <= 1.0), -1), tf.float32)
  moved, units = moved - 0.5, tf.cast(units, tf.float32) - 0.5  # centred: less cancellation
  before = before * inside[:, None]
  after_sq = tf.einsum("bfu,u->bf", after, tf.reduce_sum(tf.square(units), -1))
  before_sq = tf.einsum("bfv,bv->bf", before, tf.reduce_sum(tf.square(moved), -1))
  cross = tf.reduce_sum(
    tf.einsum("bfu,uc->bfc", after, units) * tf.einsum("bfv,bvc->bfc", before, moved), -1
  )
  total = tf.reduce_sum(before, -1) * after_sq - 2.0 * cross + tf.reduce_sum(after, -1) * before_sq
  per_image = tf.reduce_mean(total, -1)
  if weights is None:
    return tf.reduce_mean(per_image)
  weights = tf.cast(tf.reshape(weights, [-1]), tf.float32)
  return tf.reduce_sum(weights * per_image) / tf.maximum(tf.reduce_sum(weights), 1.0)


def equivariance(logits, crop_logits, boxes, weights, temperature):
  """The equivariance term: `equivariance_loss` of the heatmaps of the last interpretable
  layer's pre-ReLU maps on the images (`logits`, `(B, L, L, F)`) and on their crops
  (`crop_logits`), each channel first divided by its spread over the weighted images' units
  (held fixed), so that `temperature` means the same for every filter."""
  x = tf.cast(logits, tf.float32)
  w = tf.cast(tf.reshape(weights, [-1, 1, 1, 1]), tf.float32)
  count = tf.maximum(tf.reduce_sum(w) * float(x.shape[1] * x.shape[2]), 1.0)
  mean = tf.reduce_sum(w * x, [0, 1, 2]) / count
  spread = tf.sqrt(tf.reduce_sum(w * tf.square(x - mean), [0, 1, 2]) / count) + 1e-6
  spread = tf.stop_gradient(spread)
  before = heatmaps(x / spread, temperature)
  after = heatmaps(tf.cast(crop_logits, tf.float32) / spread, temperature)
  units = unit_centres(x.shape[1])
  return equivariance_loss(before, after, units, boxes, weights)


def filter_loss_inputs(out):
  """The maps the filter loss sees: each interpretable layer's pre-mask map,
  the last one mixed with the ordinary track's (held fixed) through `p`.

  Each is a tensor of its own (`tf.identity`; a float32 cast returns its input), so
  that a gradient taken with respect to it is its own filter loss's alone, not the
  later layers' filter losses reaching the same map through the convs between.
  """
  inputs = [tf.identity(tf.cast(x, tf.float32)) for x in out["interp_maps"]]
  ordin = tf.stop_gradient(tf.cast(out["ordin_map"], tf.float32))
  p = out["p"]
  inputs[-1] = p * inputs[-1] + (1.0 - p) * ordin
  return inputs


@tf.custom_gradient
def _weighted_value(values, weights):
  """`weights * values` forward; the gradient passes to `values` unweighted."""
  return weights * values, lambda upstream: (upstream, tf.zeros_like(weights))


@tf.custom_gradient
def _weighted_gradient(x, weights):
  """`x` forward; the gradient passes back to `x` times `weights` (last axis)."""
  return tf.identity(x), lambda upstream: (upstream * weights, tf.zeros_like(weights))


def filter_loss_terms(
  inputs,
  templates,
  lambda_f,
  gradient,
  image_categories,
  filter_categories,
  masks=None,
  loss_fn=filter_loss,
):
  """Each interpretable layer's filter loss, per filter and weighted.

  The weighting by `lambda_f` is moved from the loss value to the gradient's way
  back (`_weighted_value`, `_weighted_gradient`): a backward pass of the total
  loss then carries the unweighted `dLoss_f/dx'` on each returned `grad_input`
  (what the `lambda_f` rule measures) and `lambda_f dLoss_f/dx'` on into the
  network, from one evaluation of the filter loss's gradient.

  Args:
    inputs: `filter_loss_inputs(out)`.
    templates: the part templates of the layers' size.
    lambda_f: `(layers, filters)` weights (held fixed here).
    gradient: `"approx"`, `"exact"` or `"icnn"`.
    image_categories: `(batch,)` the performer's predicted classes.
    filter_categories: `(layers, filters)` each filter's category.
    masks: for `"icnn"`, the masks the forward pass used, one per layer.
    loss_fn: the per-filter loss, `filter_loss`'s signature (a benchmark
      swaps in a stand-in to time the step without it).

  Returns:
    `(per_filter, terms, grad_inputs)`: the unweighted `(filters,)` losses of
    each layer, `{"filter_loss_<i>": sum_f lambda_f * Loss_f}` with their sum
    under `"filter_loss"`, and the tensors the losses read (each `inputs[i]`,
    forward), whose gradient is the unweighted one.
  """
  per_filter, terms, grad_inputs = [], {}, []
  for i, x in enumerate(inputs):
    weights = tf.stop_gradient(tf.cast(lambda_f[i], x.dtype))
    grad_inputs.append(_weighted_gradient(x, weights))
    kwargs = {"masks": masks[i]} if masks else {}
    with tf.name_scope("filter_loss"):  # names its ops in a profile
      per_filter.append(
        loss_fn(
          grad_inputs[i],
          templates,
          gradient=gradient,
          image_categories=image_categories,
          filter_categories=filter_categories[i],
          **kwargs,
        )
      )
    weighted = _weighted_value(per_filter[i], tf.cast(weights, per_filter[i].dtype))
    terms[f"filter_loss_{i + 1}"] = tf.reduce_sum(weighted)
  terms["filter_loss"] = tf.add_n([terms[f"filter_loss_{i + 1}"] for i in range(len(inputs))])
  return per_filter, terms, grad_inputs


def filter_loss_weights(rec_norms, filter_norms, divisor, epoch):
  """`lambda_f = rec_norms / filter_norms / (divisor * epoch)`, per filter."""
  return rec_norms / tf.maximum(filter_norms, 1e-12) / (divisor * epoch)


def per_filter_norms(grads):
  """Per-filter L2 norm of `(B, L, L, D)` gradients, batch-summed: `(D,)`."""
  return tf.reduce_sum(tf.sqrt(tf.reduce_sum(tf.square(tf.cast(grads, tf.float32)), [1, 2])), 0)


def filter_categories_from_sums(category_sums, category_counts, filter_category=None):
  """Each filter's category: the class whose images activate it most on average.

  Args:
    category_sums: `(layers, classes, filters)` summed activations per class.
    category_counts: `(classes,)` images per class.
    filter_category: one category for every filter instead (single-category).

  Returns:
    int32 `(layers, filters)`.
  """
  if filter_category is not None:
    shape = tf.shape(category_sums)
    return tf.fill([shape[0], shape[2]], tf.constant(filter_category, tf.int32))
  counts = tf.maximum(category_counts, 1.0)[None, :, None]
  return tf.argmax(category_sums / counts, axis=1, output_type=tf.int32)


def interpretable_share(out):
  """Per image, the interpretable track's share of the encoder output.

  `sum |p x_interp| / (sum |p x_interp| + sum |(1 - p) x_ordin|)` over the
  pooled, normalised maps of `out` (an inference-mode `forward`): what `p`
  means for each image.

  Returns:
    float32 `(batch,)`.
  """
  p = out["p"]
  interp = p * tf.reduce_sum(tf.abs(tf.cast(out["x_interp"], tf.float32)), axis=[1, 2, 3])
  ordin = (1.0 - p) * tf.reduce_sum(tf.abs(tf.cast(out["x_ordin"], tf.float32)), axis=[1, 2, 3])
  return interp / tf.maximum(interp + ordin, 1e-12)
