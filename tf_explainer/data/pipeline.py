"""One tf.data pipeline from a `PartDataset` to network inputs.

Every image is cropped to its bounding box (as the paper crops objects),
resized to the performer's input size, and its landmarks are carried through
the crop and resize: with TF's half-pixel resize, a pixel-centre coordinate
`c` in the original maps to `(c - c0 + 0.5) * S / extent - 0.5`.
"""

import numpy as np
import tensorflow as tf

TASKS = ("single", "multi")


def task_labels(labels, task, target_class=None):
  """Class labels for the classifier: multi as is; single is 1 for the target, else 0."""
  if task not in TASKS:
    raise ValueError(f"--task must be one of {TASKS}, got {task!r}.")
  if task == "multi":
    return labels.astype(np.int32)
  if target_class is None:
    raise ValueError("--task=single needs --target_class.")
  return (labels == target_class).astype(np.int32)


def select(dataset, split):
  """`"train"`, `"test"` or `"all"` images of a `PartDataset`."""
  if split == "all":
    return dataset
  if split not in ("train", "test"):
    raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}.")
  return dataset.subset(dataset.is_train if split == "train" else ~dataset.is_train)


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
      image, tf.cast(y0, tf.int32), tf.cast(x0, tf.int32),
      tf.cast(y1 - y0, tf.int32), tf.cast(x1 - x0, tf.int32))
  image = tf.image.resize(image, [image_size, image_size])
  scale = tf.stack([image_size / (y1 - y0), image_size / (x1 - x0)])
  points = (landmarks - tf.stack([y0, x0]) + 0.5) * scale - 0.5
  return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), points


def make_dataset(dataset, image_size, labels=None, batch_size=32, shuffle=False, seed=0,
                 crop=True, augment=False, cache=True, drop_remainder=False):
  """A batched `tf.data.Dataset` of dicts.

  Each element: `images` float32 `(B, S, S, 3)` RGB 0-255, `labels` int32
  `(B,)`, `landmarks` float32 `(B, K, 2)` (row, col) in input pixels, NaN where
  missing, and `index` int32 `(B,)` into `dataset`.

  Args:
    dataset: a `PartDataset`.
    image_size: network input side `S`.
    labels: `(N,)` labels to use instead of `dataset.labels` (see `task_labels`).
    batch_size: batch size.
    shuffle: shuffle every epoch (seeded).
    crop: crop to the bounding box (the paper's protocol).
    augment: random horizontal flips (landmarks flipped with the image).
    cache: keep decoded, resized uint8 images in memory after the first epoch.
    drop_remainder: drop the last incomplete batch.
  """
  labels = dataset.labels if labels is None else np.asarray(labels, np.int32)
  n = len(dataset)
  base = tf.data.Dataset.from_tensor_slices({
      "path": dataset.image_paths, "box": dataset.boxes, "landmarks": dataset.landmarks,
      "labels": labels, "index": np.arange(n, dtype=np.int32)})

  def load(item):
    image, points = _load(item["path"], item["box"], item["landmarks"], image_size, crop)
    return {"images": image, "landmarks": points, "labels": item["labels"], "index": item["index"]}

  ds = base.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  if cache:
    ds = ds.cache()
  if shuffle:
    ds = ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)

  def finish(item):
    image = tf.cast(item["images"], tf.float32)
    points = item["landmarks"]
    if augment:
      flip = tf.random.uniform([]) < 0.5
      image = tf.cond(flip, lambda: image[:, ::-1], lambda: image)
      points = tf.cond(flip, lambda: points * [1.0, -1.0] + [0.0, image_size - 1.0],
                       lambda: points)
    return dict(item, images=image, landmarks=points)

  ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
