"""One tf.data pipeline from a `PartDataset` to network inputs.

Every image is cropped to its bounding box (as the paper crops objects),
resized to the performer's input size, and its landmarks are carried through
the crop and resize: with TF's half-pixel resize, a pixel-centre coordinate
`c` in the original maps to `(c - c0 + 0.5) * S / extent - 0.5`.
"""

import hashlib

import numpy as np
import tensorflow as tf

from tf_explainer.settings import ON_ERROR, TRAIN_SPLITS  # noqa: F401 (the pipeline's names)

from tf_explainer.configs import SPLITS, TASKS  # noqa: F401 (this module's names)


def task_labels(labels, task, target_class=None):
  """Class labels for the classifier: multi as is; single is 1 for the target, else 0."""
  if task not in TASKS:
    raise ValueError(f"`task` must be one of {TASKS}, got {task!r}.")
  if task == "multi":
    return labels.astype(np.int32)
  if target_class is None:
    raise ValueError("task=single needs `target_class`.")
  return (labels == target_class).astype(np.int32)


def read_checked(dataset_dir, on_error="fail", verbose=1, flag="dataset_dir"):
  """`read_part_dataset` for the scripts' `--on_error=fail|skip`; says what was skipped."""
  from tf_explainer.data import cub

  if on_error not in ON_ERROR:
    raise ValueError(f"`on_error` must be one of {ON_ERROR}, got {on_error!r}.")
  dataset = cub.read_part_dataset(dataset_dir, on_error="raise" if on_error == "fail" else "skip")
  if dataset.skipped and verbose:
    print(
      f"{flag}={dataset_dir}: skipped {dataset.skipped} images that cannot be read "
      f"(on_error=skip).",
      flush=True,
    )
  return dataset


def require_annotations(dataset, flag, what):
  """Raises a one-line error when `dataset` is a plain image folder but `what` needs the
  CUB layout's annotations."""
  if dataset.layout != "cub":
    raise ValueError(
      f"{flag}={dataset.root} is a plain folder of images; {what} needs a dataset in the "
      "CUB layout (images.txt, image_class_labels.txt, train_test_split.txt, "
      "bounding_boxes.txt, parts/; see docs/data.md)."
    )


# Names the preprocessing of `_load` (box crop, bilinear resize, uint8 rounding);
# feature caches are keyed on it, so change it whenever `_load` changes.
PREPROCESSING = "box-crop/bilinear/uint8-v1"

VALIDATION_FRACTION = 0.15


def validation_mask(dataset, fraction=VALIDATION_FRACTION):
  """`(N,)` bool: the validation split, carved from the training split.

  Per class, the `round(fraction * n)` training images (at least one where a
  class has two or more) whose ids hash lowest (SHA-256 of the decimal id).
  The choice depends on the image ids alone: not on their order, the folder,
  the machine or a seed, so every program and session carves the same images.
  """
  mask = np.zeros(len(dataset), bool)
  keys = np.array([hashlib.sha256(str(int(i)).encode()).hexdigest() for i in dataset.image_ids])
  for label in np.unique(dataset.labels):
    candidates = np.flatnonzero(dataset.is_train & (dataset.labels == label))
    if len(candidates) < 2:
      continue
    count = max(1, int(round(fraction * len(candidates))))
    mask[candidates[np.argsort(keys[candidates], kind="stable")[:count]]] = True
  return mask


def split_mask(dataset, split):
  """`(N,)` bool: the images of one split of a `PartDataset`, one of `SPLITS`.

  `"validation"` (see `validation_mask`) is for choosing settings;
  `"train_without_validation"` is what a model trains on while those settings
  are chosen; `"test"` gives the final figures only.
  """
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
  if split == "all":
    return np.ones(len(dataset), bool)
  if split in ("train", "test"):
    return dataset.is_train.copy() if split == "train" else ~dataset.is_train
  validation = validation_mask(dataset)
  return validation if split == "validation" else dataset.is_train & ~validation


def check_train_split(train_split):
  """Raises a one-line error unless `train_split` is one a model may train on."""
  if train_split not in TRAIN_SPLITS:
    raise ValueError(f"`train_split` must be one of {TRAIN_SPLITS}, got {train_split!r}.")


def held_out_split(train_split):
  """The split a model trained on `train_split` is watched on: validation or test."""
  return "validation" if train_split == "train_without_validation" else "test"


def select(dataset, split):
  """The `PartDataset` of one split (see `split_mask`)."""
  return dataset if split == "all" else dataset.subset(split_mask(dataset, split))


def _load(path, box, landmarks, image_size, crop):
  data = tf.io.read_file(path)
  image = tf.io.decode_image(data, channels=3, expand_animations=False)
  shape = tf.shape(image)
  height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
  if crop:
    x0 = tf.clip_by_value(tf.floor(box[0]), 0.0, width - 1.0)
    y0 = tf.clip_by_value(tf.floor(box[1]), 0.0, height - 1.0)
    x1 = tf.clip_by_value(tf.math.ceil(box[0] + box[2]), x0 + 1.0, width)
    y1 = tf.clip_by_value(tf.math.ceil(box[1] + box[3]), y0 + 1.0, height)
  else:
    x0 = y0 = tf.constant(0.0)
    x1, y1 = width, height
  image = tf.image.crop_to_bounding_box(
    image,
    tf.cast(y0, tf.int32),
    tf.cast(x0, tf.int32),
    tf.cast(y1 - y0, tf.int32),
    tf.cast(x1 - x0, tf.int32),
  )
  image = tf.image.resize(image, [image_size, image_size])
  scale = tf.stack([image_size / (y1 - y0), image_size / (x1 - x0)])
  points = (landmarks - tf.stack([y0, x0]) + 0.5) * scale - 0.5
  return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), points


def check_zoom(zoom, name="zoom"):
  """Refuses a `zoom` outside [0, 1) in one line naming it as `name`."""
  if not 0.0 <= zoom < 1.0:
    raise ValueError(f"{name}={zoom}: expected a fraction of the image side in [0, 1).")


def _zoom_in(image, points, image_size, zoom, key):
  """A random square of `(1 - zoom) S .. S` pixels of `image`, resized back to `S`.

  Its own draws (side, row, column) come from `key` folded with 1, so the
  flips keyed by `key` stay what they are without a zoom.
  """
  side_draw, row_draw, col_draw = tf.unstack(
    tf.random.stateless_uniform([3], tf.random.experimental.stateless_fold_in(key, 1))
  )
  smallest = int(np.ceil((1.0 - zoom) * image_size))
  side = tf.minimum(
    smallest + tf.cast(tf.floor(side_draw * (image_size - smallest + 1)), tf.int32), image_size
  )
  room = image_size - side + 1
  row = tf.minimum(tf.cast(tf.floor(row_draw * tf.cast(room, tf.float32)), tf.int32), room - 1)
  col = tf.minimum(tf.cast(tf.floor(col_draw * tf.cast(room, tf.float32)), tf.int32), room - 1)
  window = tf.image.resize(image[row : row + side, col : col + side], [image_size, image_size])
  origin = tf.cast(tf.stack([row, col]), tf.float32)
  points = (points - origin + 0.5) * (image_size / tf.cast(side, tf.float32)) - 0.5
  return window, points


def _erase(image, image_size, erase, key):
  """`image` with a random square of `round(erase S)` pixels painted its mean colour.

  Its draws (row, column) come from `key` folded with 2, so the flips and zooms
  keyed by `key` stay what they are without it.
  """
  side = max(int(round(erase * image_size)), 1)
  room = image_size - side + 1
  draws = tf.random.stateless_uniform([2], tf.random.experimental.stateless_fold_in(key, 2))
  corner = tf.minimum(tf.cast(tf.floor(draws * room), tf.int32), room - 1)
  rows = tf.range(image_size)[:, None]
  cols = tf.range(image_size)[None, :]
  inside = (
    (rows >= corner[0])
    & (rows < corner[0] + side)
    & (cols >= corner[1])
    & (cols < corner[1] + side)
  )
  mean = tf.reduce_mean(image, axis=[0, 1], keepdims=True)
  return tf.where(inside[:, :, None], mean, image)


def epoch_seed(seed, epoch):
  """One integer seed for epoch `epoch` of a run seeded with `seed`."""
  return int(seed) * 1_000_003 + int(epoch)


def epochs(make_epoch, first_epoch, num_epochs):
  """Epochs `first_epoch .. num_epochs - 1` of `make_epoch(epoch)`, back to back.

  One dataset for `fit(..., steps_per_epoch=...)` in which every epoch's
  order and augmentation are functions of the run's seed and the epoch number
  alone: a run resumed at epoch k sees from there on exactly what an
  uninterrupted run sees, and two runs with one seed see the same data.

  Args:
    make_epoch: `epoch (int) -> tf.data.Dataset` of one epoch's batches, with
      its randomness seeded from `epoch_seed`.
    first_epoch: the epoch the run starts or resumes at.
    num_epochs: the run's total number of epochs.
  """
  parts = [make_epoch(epoch) for epoch in range(first_epoch, max(num_epochs, first_epoch + 1))]
  if num_epochs <= first_epoch:
    parts = [parts[0].take(0)]
  while len(parts) > 1:  # a balanced tree of concatenations, not a chain as deep as the run
    parts = [
      parts[i].concatenate(parts[i + 1]) if i + 1 < len(parts) else parts[i]
      for i in range(0, len(parts), 2)
    ]
  return parts[0].prefetch(tf.data.AUTOTUNE)


def _decoded(item, image_size, crop):
  """An element of `make_dataset` before augmentation: the image decoded, cropped and resized."""
  image, points = _load(item["path"], item["box"], item["landmarks"], image_size, crop)
  return {"images": image, "landmarks": points, "labels": item["labels"], "index": item["index"]}


def _finish(item, image_size, augment, zoom, epoch_seed_value, erase=0.0):
  """One decoded image as float32, flipped, zoomed and erased with `augment` by stateless
  draws keyed on the epoch's seed and the image's index (landmarks moved with it)."""
  image = tf.cast(item["images"], tf.float32)
  points = item["landmarks"]
  if augment:
    key = tf.stack([tf.constant(epoch_seed_value, tf.int64), tf.cast(item["index"], tf.int64)])
    if zoom:
      image, points = _zoom_in(image, points, image_size, zoom, key)
    draw = tf.random.stateless_uniform([], key)
    flip = draw < 0.5
    image = tf.cond(flip, lambda: image[:, ::-1], lambda: image)
    points = tf.cond(flip, lambda: points * [1.0, -1.0] + [0.0, image_size - 1.0], lambda: points)
    if erase:
      image = _erase(image, image_size, erase, key)
  return dict(item, images=image, landmarks=points)


def make_dataset(
  dataset,
  image_size,
  labels=None,
  batch_size=32,
  shuffle=False,
  seed=0,
  crop=True,
  augment=False,
  zoom=0.0,
  erase=0.0,
  cache=True,
  drop_remainder=False,
  num_epochs=None,
  first_epoch=0,
):
  """A batched `tf.data.Dataset` of dicts.

  Each element: `images` float32 `(B, S, S, 3)` RGB 0-255, `labels` int32
  `(B,)`, `landmarks` float32 `(B, K, 2)` (row, col) in input pixels, NaN where
  missing, and `index` int32 `(B,)` into `dataset`.

  Each epoch's shuffle is seeded with `epoch_seed(seed, epoch)` and each
  image's flip, zoom and erasing are stateless draws keyed by that seed and the
  image's index, so the batches depend neither on thread timing nor on how
  many epochs ran in this process.

  Args:
    dataset: a `PartDataset`.
    image_size: network input side `S`.
    labels: `(N,)` labels to use instead of `dataset.labels` (see `task_labels`).
    batch_size: batch size.
    shuffle: shuffle every epoch.
    seed: seed of the shuffles, flips and zooms.
    crop: crop to the bounding box (the paper's protocol).
    augment: random horizontal flips (landmarks flipped with the image).
    zoom: with `augment`, also a random zoom-in: a square of side drawn
      uniformly from `(1 - zoom) S .. S` pixels, at a random place, resized
      back to `S` (landmarks moved with it); 0 for none.
    erase: with `augment`, also a random square of `erase S` pixels painted the
      image's mean colour (random erasing, after the zoom); 0 for none.
    cache: keep decoded, resized uint8 images in memory after the first epoch.
    drop_remainder: drop the last incomplete batch.
    num_epochs: `None` for one pass (epoch 0); else the epochs
      `first_epoch .. num_epochs - 1` back to back (see `epochs`).
    first_epoch: the epoch a training run starts or resumes at.
  """
  labels = dataset.labels if labels is None else np.asarray(labels, np.int32)
  check_zoom(zoom)
  check_zoom(erase, "erase")
  n = len(dataset)
  columns = {"path": dataset.image_paths, "box": dataset.boxes, "landmarks": dataset.landmarks}
  base = tf.data.Dataset.from_tensor_slices(
    dict(columns, labels=labels, index=np.arange(n, dtype=np.int32))
  )
  decoded = base.map(
    lambda item: _decoded(item, image_size, crop),
    num_parallel_calls=tf.data.AUTOTUNE,
    deterministic=True,
  )
  if cache:
    decoded = decoded.cache()

  def one_epoch(epoch):
    this_seed = epoch_seed(seed, epoch)
    ds = (
      decoded.shuffle(max(n, 1), seed=this_seed, reshuffle_each_iteration=False)
      if shuffle
      else decoded
    )

    def finish(item):
      return _finish(item, image_size, augment, zoom, this_seed, erase)

    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder)

  if num_epochs is None:
    return one_epoch(0).prefetch(tf.data.AUTOTUNE)
  return epochs(one_epoch, first_epoch, num_epochs)
