"""Figures with matplotlib.

Receptive fields use the simple method the paper uses for performer filters:
every activated unit contributes a round receptive field (a disk of radius
`stride` around its mapped pixel, weighted by the activation), and the disks of
a map are overlapped. It is applied to both the explainer's and the
performer's filters so that the two are compared on equal terms.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def round_receptive_field(feature_map, mapping, image_size):
  """Overlapped round receptive fields of one `(L, L)` map, as an `(S, S)` image in [0, 1]."""
  rows, cols = np.mgrid[0:image_size, 0:image_size].astype(np.float32)
  field = np.zeros((image_size, image_size), np.float32)
  radius = float(mapping.stride[0])
  peak = feature_map.max()
  if peak <= 0:
    return field
  for (i, j), value in np.ndenumerate(feature_map):
    if value <= 0.05 * peak:
      continue
    r, c = mapping.to_pixels([i, j])
    field = np.maximum(field, (value / peak) * ((rows - r) ** 2 + (cols - c) ** 2 <= radius**2))
  return field


def choose_filters(scores, count=6, parts=None):
  """Filters to picture: one per part first (strongest of each), then the strongest others.

  Args:
    scores: `(N, F)` each map's strongest activation.
    count: how many filters.
    parts: optional `(F,)` each filter's part index.

  Returns:
    Filter indices, strongest (mean score) first within each round.
  """
  order = np.argsort(-scores.mean(axis=0), kind="stable")
  chosen = []
  if parts is not None:
    for part in np.unique(parts):
      best = next(f for f in order if parts[f] == part)
      chosen.append(int(best))
    chosen = sorted(chosen, key=lambda f: list(order).index(f))[:count]
  chosen += [int(f) for f in order if f not in chosen][: count - len(chosen)]
  return chosen


def top_images(scores, filters, count=4):
  """For each filter, the indices of the `count` images with its strongest maps: `(F', count)`."""
  return np.stack([np.argsort(-scores[:, f], kind="stable")[:count] for f in filters])


def receptive_field_figure(rows, mappings, image_size, path):
  """Rows of filters, columns of their top images with the RF overlaid (the paper's Fig. 4).

  Args:
    rows: list of `(layer name, label, images (K, S, S, 3), maps (K, L, L))`, one
      row per filter: its top images and its maps on them.
    mappings: `UnitMapping` per layer name.
    image_size: `S`.
    path: the PNG to write.
  """
  columns = max(len(images) for _, _, images, _ in rows)
  fig, axes = plt.subplots(len(rows), columns, figsize=(2 * columns, 2 * len(rows)), squeeze=False)
  for r, (name, label, images, maps) in enumerate(rows):
    for c in range(columns):
      ax = axes[r, c]
      ax.set_xticks([])
      ax.set_yticks([])
      if c >= len(images):
        continue
      field = round_receptive_field(maps[c], mappings[name], image_size)
      ax.imshow(images[c].astype(np.uint8))
      ax.imshow(field, cmap="jet", alpha=0.45 * (field > 0), vmin=0, vmax=1)
      if c == 0:
        ax.set_ylabel(label, fontsize=7)
  fig.suptitle(
    "Each row: one filter on its four top images (interpretable filters, then the "
    "performer's top conv).\nColour: the filter's activation over each unit's receptive "
    "field (red strongest; none where it is silent)",
    fontsize=8,
  )
  fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / len(rows)))
  _save(fig, path)


def grad_cam(maps, gradients, image_size):
  """Grad-CAM maps `(N, S, S)` from `(N, L, L, F)` activations and their gradients."""
  weights = gradients.mean(axis=(1, 2), keepdims=True)
  cam = np.maximum((weights * maps).sum(-1), 0)
  cam = tf.image.resize(cam[..., None], [image_size, image_size]).numpy()[..., 0]
  return cam / np.maximum(cam.max(axis=(1, 2), keepdims=True), 1e-12)


def class_score_gradients(explainer, model, spec, images):
  """Activations and gradients of the predicted class score.

  Returns:
    dict with `explainer` (part maps of the last interpretable layer; the score
    is the performer's classifier on the last reconstructed fc layer) and
    `performer_top_conv`, each `(maps, gradients)`, and the predicted classes.
  """
  from tf_explainer import evaluation

  probe = evaluation.probe_model(model, spec)
  classifier = model.get_layer(spec.classifier_layer)

  @tf.function  # compiled: eager grouped convolutions (AlexNet) warn about retracing
  def step(images):
    with tf.GradientTape(persistent=True) as tape:
      out = probe(images, training=False)
      top = out["top_conv"]
      classes = tf.argmax(out["logits"], -1)
      perf_score = tf.reduce_sum(tf.gather(out["logits"], classes, batch_dims=1))
      fwd = explainer.forward(out["target"], training=False)
      parts = fwd["masked"][-1]
      expl_logits = classifier(fwd["fc"][-1])
      expl_classes = tf.argmax(expl_logits, -1)
      expl_score = tf.reduce_sum(tf.gather(expl_logits, expl_classes, batch_dims=1))
    return {
      "explainer": (parts, tape.gradient(expl_score, parts)),
      "performer_top_conv": (top, tape.gradient(perf_score, top)),
      "classes": expl_classes,
    }

  result = step(tf.convert_to_tensor(images, tf.float32))
  return tf.nest.map_structure(lambda t: t.numpy(), result)


def grad_cam_figure(images, grads, image_size, path, count=6, titles=None):
  """Grad-CAM of the explainer's part maps and of the performer's top conv (Fig. 5).

  Args:
    titles: optional text per image (its true and predicted classes), shown above it.
  """
  count = min(count, len(images))
  cams = {name: grad_cam(*grads[name], image_size) for name in ("explainer", "performer_top_conv")}
  fig, axes = plt.subplots(2, count, figsize=(2 * count, 4.4), squeeze=False)
  for row, name in enumerate(cams):
    for i in range(count):
      ax = axes[row, i]
      ax.imshow(images[i].astype(np.uint8))
      ax.imshow(cams[name][i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
      ax.set_xticks([])
      ax.set_yticks([])
      if i == 0:
        ax.set_ylabel("explainer" if row == 0 else "performer", fontsize=9)
      if row == 0 and titles is not None:
        ax.set_title(titles[i], fontsize=7)
  fig.suptitle("Grad-CAM of each network's predicted class (red: the evidence for it)", fontsize=9)
  fig.tight_layout()
  _save(fig, path)


def part_contributions(part_maps, gradients, filter_parts, num_parts):
  """Each part's share of the class score: gradient x activation summed over its filters.

  Args:
    part_maps, gradients: `(N, L, L, F)`.
    filter_parts: `(F,)` the part (landmark index) each filter is assigned to.
    num_parts: K.

  Returns:
    `(N, K)` shares that sum to 1 per image over parts with positive evidence
    (negative contributions are clipped at 0).
  """
  per_filter = np.maximum((part_maps * gradients).sum(axis=(1, 2)), 0)  # (N, F)
  per_part = np.zeros((part_maps.shape[0], num_parts))
  for k in range(num_parts):
    per_part[:, k] = per_filter[:, filter_parts == k].sum(-1)
  return per_part / np.maximum(per_part.sum(-1, keepdims=True), 1e-12)


def contribution_figure(images, shares, part_names, path, count=4):
  """Per-image and average part shares of the class score."""
  count = min(count, len(images))
  fig, axes = plt.subplots(2, count + 1, figsize=(2.4 * (count + 1), 4.6), squeeze=False)
  for i in range(count):
    axes[0, i].imshow(images[i].astype(np.uint8))
    axes[0, i].axis("off")
    axes[1, i].bar(range(len(part_names)), shares[i])
    axes[1, i].set_xticks(range(len(part_names)), part_names, rotation=60, fontsize=7)
    axes[1, i].set_ylim(0, 1)
  axes[0, count].axis("off")
  axes[1, count].bar(range(len(part_names)), shares.mean(0), color="tab:orange")
  axes[1, count].set_xticks(range(len(part_names)), part_names, rotation=60, fontsize=7)
  axes[1, count].set_ylim(0, 1)
  axes[1, count].set_title("average", fontsize=9)
  fig.suptitle(
    "Share of the predicted class score from the filters of each part (gradient x activation;"
    "\na filter's part: the one its peaks lie nearest)",
    fontsize=8,
  )
  fig.tight_layout()
  _save(fig, path)


def _save(fig, path):
  """Writes the figure as a PNG to `path` (any `tf.io.gfile` path), atomically."""
  import io
  from tf_explainer import io_utils

  io_utils.makedirs(os.path.dirname(path) or ".")
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=80)
  plt.close(fig)
  io_utils.write_atomically(path, buffer.getvalue(), "wb")
