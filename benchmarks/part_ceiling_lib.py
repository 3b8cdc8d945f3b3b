"""What `benchmarks.part_ceiling` measures: how well one filter on an explainer's target layer
can follow a part (no flags here, so that tests can import it).

Three kinds of 3x3 filters on the performer's target-layer maps, each scored like the
explainer (location instability and part tracking on the target class's images):

* `supervised_filters`: per part, a filter trained with that part's landmarks to peak at
  it (softmax over units): a ceiling, what the features allow with labels;
* `equivariant_filters`: filters trained without labels, so that their peak moves with a
  known zoom-in of the image (the soft peak of the crop's map against the image's, carried
  through the crop): a label-free objective other than the explainer's;
* the same filters untrained, the control.

`measure_peaks` on the landmarks snapped to the map's units gives the grid's floor.
"""

import numpy as np

from tf_explainer.losses import objective
from tf_explainer.train.features import ZOOM  # the explainer's equivariance term's crops


def target_maps(model, spec, subset, warps=0, seed=0, batch_size=32):
  """Target-layer maps of `subset`'s target-class images, and of `warps` crops of each.

  Returns a dict of numpy arrays: `maps` `(N, L, L, C)`, `landmarks` `(N, K, 2)`; with
  `warps`, also the crops' maps `warped` `(N * warps, L, L, C)`, their `boxes`
  `(N * warps, 4)` (`tf.image.crop_and_resize`'s normalised y0, x0, y1, x1: squares of
  side drawn from `ZOOM`) and `source`, the row of each crop's image.
  """
  import tensorflow as tf

  from tf_explainer import data as data_lib
  from tf_explainer import evaluation, performers

  probe = performers.image_probe(model, spec, {"target": spec.target_layer})
  labels = data_lib.task_labels(subset.labels, spec.task, spec.target_class)
  rows = evaluation.target_rows(labels, spec)
  rng = np.random.default_rng(seed)
  size = spec.image_size
  out = {"maps": [], "landmarks": [], "warped": [], "boxes": [], "source": []}
  count = 0
  ds = data_lib.make_dataset(subset, size, labels=labels, batch_size=batch_size, cache=False)
  for batch in ds:
    keep = rows[batch["index"].numpy()]
    if not keep.any():
      continue
    images = batch["images"].numpy()[keep]
    out["maps"].append(probe(images, training=False)["target"].numpy().astype(np.float32))
    out["landmarks"].append(batch["landmarks"].numpy()[keep])
    for _ in range(warps):
      side = rng.uniform(*ZOOM, len(images))
      start = rng.uniform(0.0, 1.0 - side[:, None], (len(images), 2))
      boxes = np.concatenate([start, start + side[:, None]], 1).astype(np.float32)
      crops = tf.image.crop_and_resize(images, boxes, np.arange(len(images)), (size, size))
      out["warped"].append(probe(crops, training=False)["target"].numpy().astype(np.float32))
      out["boxes"].append(boxes)
      out["source"].append(count + np.arange(len(images)))
    count += len(images)
  return {key: np.concatenate(value) for key, value in out.items() if value}


def measure_peaks(peaks, scores, landmarks, size, part_names, top_n=100):
  """The explainer's figures for any peaks: location instability (per filter, its mean) and
  part tracking (filters per part, and the mean hit rate of the filters that track)."""
  from tf_explainer import metrics as metrics_lib

  per_filter = metrics_lib.filter_instabilities(peaks, scores, landmarks, top_n)
  per_filter = per_filter / np.hypot(size, size)
  summary, tracked = metrics_lib.part_tracking(peaks, scores, landmarks, size, part_names)
  tracks = tracked["part"] >= 0
  return {
    "location_instability": float(np.nanmean(per_filter)),
    "per_filter": [round(float(v), 4) for v in per_filter],
    "tracking": summary["tracking"],
    "per_part": summary["per_part"],
    "hit_rate_of_tracking": float(np.mean(tracked["rate"][tracks])) if tracks.any() else None,
  }


def measure(maps, landmarks, mapping, size, part_names):
  """`measure_peaks` of each filter's strongest unit in `maps` `(N, L, L, F)`."""
  from tf_explainer import metrics as metrics_lib

  peaks, scores = metrics_lib.peaks_and_scores(maps, mapping)
  return measure_peaks(peaks, scores, landmarks, size, part_names)


def grid_floor(landmarks, mapping, map_size, size, part_names):
  """The perfect tracker (`metrics.landmark_peaks`) at the map's resolution: each landmark's
  nearest unit."""
  from tf_explainer import metrics as metrics_lib

  peaks, scores = metrics_lib.landmark_peaks(landmarks)
  snapped = mapping.to_pixels(mapping.to_units(peaks, map_size))
  return measure_peaks(snapped, scores, landmarks, size, part_names)


def _conv(filters, maps, seed, **kwargs):
  import keras

  keras.utils.set_random_seed(seed)
  conv = keras.layers.Conv2D(filters, 3, padding="same", **kwargs)
  conv.build((None,) + maps.shape[1:])
  return conv


def supervised_filters(data, mapping, epochs=40, seed=0):
  """Per part, one 3x3 filter trained to peak at that part's landmark: a function of maps
  `(N, L, L, C)` -> `(N, L, L, K)`."""
  import keras

  maps, landmarks = data["maps"], data["landmarks"]
  scale = float(np.mean(maps))
  side = maps.shape[1]
  convs = []
  for k in range(landmarks.shape[1]):
    seen = np.isfinite(landmarks[:, k]).all(-1)
    units = mapping.to_units(landmarks[seen, k], side)
    conv = _conv(1, maps, seed, kernel_regularizer=keras.regularizers.l2(1e-4))
    inputs = keras.Input(maps.shape[1:])
    model = keras.Model(inputs, keras.layers.Flatten()(conv(inputs)))
    model.compile(
      keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(maps[seen] / scale, units[:, 0] * side + units[:, 1], epochs=epochs, verbose=0)
    convs.append(conv)
  return lambda x: np.concatenate([c(x / scale).numpy() for c in convs], -1)


def equivariance_loss(before, after, units, boxes, size):
  """`objective.equivariance_loss` with `units` `(U, 2)` in pixels, the distances divided
  by `size`: mean over images and filters of sum_{u, v} ||u - T(v)||^2 after(u) before(v) /
  size^2, `T` carrying a pixel of the image into the crop (`objective.warp_points`)."""
  units = np.asarray(units, np.float32) / (size - 1.0)
  return objective.equivariance_loss(before, after, units, boxes) * ((size - 1.0) / size) ** 2


def equivariant_filters(
  data, mapping, size, filters=16, steps=3000, batch_size=32, temperature=0.1, seed=0, start=None
):
  """`filters` 3x3 filters trained by `equivariance_loss` on `target_maps`'s image and crop
  pairs (Adam 1e-3; none with `steps=0`): a function of maps and the last batch's loss.

  `start`: `(kernel, bias)` of a 3x3 conv on these maps (e.g. the performer's top conv) to
  start from instead of random filters, one per output channel; each channel is scaled to
  unit standard deviation over the train maps' units (its peaks unchanged), so that the
  softmax's temperature means the same for every start.
  """
  maps = data["maps"]
  scale = float(np.mean(maps))
  conv = _conv(filters if start is None else start[0].shape[-1], maps, seed)
  if start is not None:
    kernel, bias = (np.asarray(w, np.float32) for w in start)
    conv.set_weights([kernel * scale, bias])
    spread = np.std(conv(maps[:256] / scale).numpy(), axis=(0, 1, 2)) + 1e-6
    conv.set_weights([kernel * scale / spread, bias / spread])
  return _train_equivariant(conv, data, mapping, size, scale, steps, batch_size, temperature, seed)


def _train_equivariant(conv, data, mapping, size, scale, steps, batch_size, temperature, seed):
  import keras
  import tensorflow as tf

  maps = data["maps"]
  side = maps.shape[1]
  grid = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1)
  units = tf.constant(mapping.to_pixels(grid.reshape(-1, 2)), tf.float32)
  optimizer = keras.optimizers.Adam(1e-3)

  @tf.function
  def step(image_maps, crop_maps, boxes):
    with tf.GradientTape() as tape:
      before = objective.heatmaps(conv(image_maps / scale), temperature)
      after = objective.heatmaps(conv(crop_maps / scale), temperature)
      loss = equivariance_loss(before, after, units, boxes, size)
    optimizer.apply_gradients(
      zip(tape.gradient(loss, conv.trainable_variables), conv.trainable_variables)
    )
    return loss

  rng = np.random.default_rng(seed)
  loss = None
  for _ in range(steps):
    i = rng.choice(len(data["warped"]), batch_size, replace=False)
    loss = float(step(maps[data["source"][i]], data["warped"][i], data["boxes"][i]))
  return (lambda x: conv(x / scale).numpy()), loss
