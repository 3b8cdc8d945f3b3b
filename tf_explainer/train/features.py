"""The performer's features of a dataset, computed once and cached on disk.

Every explainer epoch needs the same performer outputs (target map, the
reconstructed fc layers under their `PerformerSpec.fc_names`, predicted
class), so they are computed once and saved with `tf.data`'s `Dataset.save`
(sharded files) under a key that changes when the performer or
the data change. For the equivariance term (`zoom`), each image's cache entry
also holds the target map of one zoomed-in crop of it (`warped`) and the crop's
box (`box`), drawn once per image (`zoom_boxes`). A cache is written into a
temporary folder and renamed when complete, so an interrupted run never leaves
a half-written cache behind.
"""

import hashlib
import json
import os

import numpy as np
import tensorflow as tf

from tf_explainer import io_utils, performers
from tf_explainer.models import io as model_io
from tf_explainer.data import pipeline


ZOOM = (0.65, 0.95)  # side of the zoomed-in crops, as a share of the image's


def zoom_boxes(count, seed=0):
  """`count` crop boxes, `(count, 4)` float32 in `tf.image.crop_and_resize`'s normalised
  `(y0, x0, y1, x1)`: squares of side drawn from `ZOOM`, each at a random place inside its
  image; the same for the same `count` and `seed`."""
  rng = np.random.default_rng(seed)
  side = rng.uniform(*ZOOM, count)
  start = rng.uniform(0.0, 1.0 - side[:, None], (count, 2))
  return np.concatenate([start, start + side[:, None]], 1).astype(np.float32)


def cache_key(performer_dir, dataset, image_size, split, target_layer=None, zoom=False):
  """A digest of everything a cache depends on.

  The performer's files (size, modification time and its spec), the dataset's
  annotations, every image's path, size and modification time, the input
  size, the pipeline's preprocessing, the dtype policy the features are
  computed under, the layer read where it is not the spec's target, and the
  zoomed-in crops where they are cached.
  """
  import keras

  digest = hashlib.sha256()
  for name in (model_io.PERFORMER_FILE, model_io.PERFORMER_SPEC_FILE):
    digest.update(f"{name}:{io_utils.fingerprint(os.path.join(performer_dir, name))}".encode())
  with io_utils.open_file(os.path.join(performer_dir, model_io.PERFORMER_SPEC_FILE), "rb") as f:
    stored = f.read()
  digest.update(stored)
  if target_layer and target_layer != json.loads(stored).get("target_layer"):
    digest.update(f"target:{target_layer}".encode())
  for array in (dataset.image_paths, dataset.boxes, dataset.labels):
    digest.update(np.ascontiguousarray(array).tobytes())
  for path in dataset.image_paths:  # every image: a replaced one invalidates the cache
    stat = os.stat(path)
    digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
  digest.update(
    f"{image_size}:{split}:{pipeline.PREPROCESSING}:{keras.config.dtype_policy().name}".encode()
  )
  if zoom:
    digest.update(f"zoom:{ZOOM}".encode())
  return digest.hexdigest()[:16]


def prune(cache_dir, split, keep):
  """Removes this split's older caches in `cache_dir` (all written here), keeping `keep`."""
  if not io_utils.isdir(cache_dir):
    return
  for name in io_utils.listdir(cache_dir):
    path = os.path.join(cache_dir, name)
    if (
      name.startswith(f"{split}-")
      and path != keep
      and io_utils.isdir(path)
      and (io_utils.exists(os.path.join(path, "complete.json")) or name.endswith(".tmp"))
    ):
      io_utils.rmtree(path)


def feature_fn(model, spec):
  """A function from a batch of images (and optionally crop boxes, `(B, 4)`) to the
  explainer's inputs and targets; with boxes, also the crops' target maps (`warped`)."""
  extractor = performers.feature_model(model, spec)

  def extract(images, boxes=None):
    out = extractor(images, training=False)
    crops = {}
    if boxes is not None:
      size = spec.image_size
      batch = tf.range(tf.shape(images)[0])
      zoomed = tf.image.crop_and_resize(images, boxes, batch, (size, size))
      warped = extractor(zoomed, training=False)["target"]
      crops = {"warped": tf.cast(warped, tf.float32), "box": boxes}
    category = tf.argmax(out["logits"], axis=-1, output_type=tf.int32)
    features = {
      name: tf.cast(out[layer], tf.float32) for name, layer in zip(spec.fc_names, spec.fc_layers)
    }
    return {
      "maps": tf.cast(out["target"], tf.float32),
      **features,
      "category": category,
      # Single-category performers estimate NormLayer statistics on the images
      # they classify as positive; multi-category ones on every image.
      # float 0/1 rather than bool: distributed input pipelines cannot sum bools.
      "positive": tf.cast(
        tf.equal(category, 1) if spec.task == "single" else tf.ones_like(category, tf.bool),
        tf.float32,
      ),
      **crops,
    }

  return extract


def feature_dataset(model, spec, dataset, batch_size=32, progress_bar=None, zoom=False):
  """Unbatched `tf.data.Dataset` of feature dicts, computed by the performer on the fly.

  Only the performer's outputs and the image index travel on: no annotation.
  `progress_bar` (a `keras.utils.Progbar` over images) advances batch by batch.
  `zoom` adds each image's zoomed-in crop (`zoom_boxes`): its target map and box.
  """
  images = pipeline.make_dataset(dataset, spec.image_size, batch_size=batch_size, cache=False)
  extract = tf.function(feature_fn(model, spec))
  boxes = tf.constant(zoom_boxes(len(dataset))) if zoom else None

  def advance(count):
    progress_bar.add(int(count))
    return np.int64(0)

  def run(batch):
    crops = None if boxes is None else tf.gather(boxes, batch["index"])
    features = extract(batch["images"], crops)
    features["index"] = batch["index"]
    if progress_bar is not None:
      tick = tf.py_function(advance, [tf.shape(batch["index"])[0]], tf.int64)
      with tf.control_dependencies([tick]):
        features["index"] = tf.identity(features["index"])
    return features

  return images.map(run).unbatch()


def cached_features(
  model, spec, performer_dir, dataset, cache_dir, split, batch_size=32, progress=True, zoom=False
):
  """Loads the cached features of `dataset`, computing and saving them first if needed
  (with `zoom`, each image's zoomed-in crop too: `feature_dataset`).

  Returns:
    `(unbatched tf.data.Dataset, path of the cache)`.
  """
  key = cache_key(performer_dir, dataset, spec.image_size, split, spec.target_layer, zoom)
  path = os.path.join(cache_dir, f"{split}-{key}")
  if not io_utils.exists(os.path.join(path, "complete.json")):
    tmp = path + ".tmp"
    io_utils.rmtree(tmp)
    bar = None
    if progress:
      import keras

      print(f"Caching performer features of {len(dataset)} {split} images in {path}")
      bar = keras.utils.Progbar(
        len(dataset), unit_name="image", verbose=io_utils.progress_verbosity(1)
      )
    ds = feature_dataset(model, spec, dataset, batch_size, progress_bar=bar, zoom=zoom)
    ds.save(tmp, shard_func=lambda item: tf.cast(item["index"] % 4, tf.int64))
    io_utils.write_json(os.path.join(tmp, "complete.json"), {"images": len(dataset), "key": key})
    io_utils.replace_dir(tmp, path)
  prune(cache_dir, split, path)
  return tf.data.Dataset.load(path), path


def to_training_pairs(features, fc_names, labels=None):
  """Maps a feature dict to the explainer's `(maps, targets)`; `fc_names` from the spec.

  `labels` (true labels by image index) are added as `targets["label"]` only
  for the Explainer+cls baseline; the explainer itself never gets them. The
  zoomed-in crops' maps and boxes travel on where the features hold them.
  """
  keys = tuple(fc_names) + ("category", "positive")
  keys += tuple(k for k in ("warped", "box") if k in features.element_spec)
  if labels is None:
    return features.map(lambda f: (f["maps"], {k: f[k] for k in keys}))
  table = tf.constant(np.asarray(labels, np.int32))
  return features.map(
    lambda f: (f["maps"], dict({k: f[k] for k in keys}, label=tf.gather(table, f["index"])))
  )


def feature_statistics(features, fc_names, batch_size=256):
  """One pass over a feature dataset.

  Returns:
    `(norms, positives)`: `E||max(x*_l, 0)||` for each reconstructed fc layer
    in `fc_names` (for `lambda_l`), and how many images the performer
    classifies as positive.
  """
  sums, count, positives = np.zeros(len(fc_names)), 0, 0.0
  for batch in features.batch(batch_size):
    for i, name in enumerate(fc_names):
      sums[i] += float(tf.reduce_sum(tf.norm(tf.nn.relu(batch[name]), axis=-1)))
    count += int(tf.shape(batch["category"])[0])
    positives += float(tf.reduce_sum(batch["positive"]))
  if count == 0:
    raise ValueError("No images to estimate the reconstruction weights from.")
  return sums / count, positives
