"""A Keras callback that measures the explainer as the paper does while it trains.

Every `every` epochs it computes the location instability of the explainer's
last interpretable layer (and, once, of the performer's top conv and target
layers) on a held-out split, plus p and the classification errors, and writes
them with image summaries of the part maps of a few fixed images to
TensorBoard. Annotations are used here only to measure, never in the loss.
"""

import keras
import numpy as np
import tensorflow as tf

from tf_explainer import data as data_lib
from tf_explainer import evaluation


class ExplainerMonitor(keras.callbacks.Callback):
  """Location instability, p, errors and part-map images in TensorBoard.

  Args:
    performer: the performer Keras model.
    spec: its `PerformerSpec`.
    dataset: a `PartDataset` split to measure on (a small one keeps it quick).
    log_dir: folder of this callback's TensorBoard file writer.
    every: epochs between measurements.
    top_n: images per filter and landmark.
    num_images: images shown as part-map summaries.
  """

  def __init__(self, performer, spec, dataset, log_dir, every=5, top_n=100, num_images=4):
    super().__init__()
    self.performer, self.spec, self.dataset = performer, spec, dataset
    self.every, self.top_n, self.num_images = every, top_n, num_images
    self.labels = data_lib.task_labels(dataset.labels, spec.task, spec.target_class)
    self.writer = tf.summary.create_file_writer(log_dir)
    self.history = []
    self.step = None  # one compiled function for every measurement (no retracing)

  def on_epoch_end(self, epoch, logs=None):
    if self.every <= 0 or (epoch + 1) % self.every:
      return
    if self.step is None:
      self.step = evaluation.compiled_step(self.model.explainer, self.performer, self.spec)
    collected = evaluation.collect(
      self.model.explainer,
      self.performer,
      self.spec,
      self.dataset,
      self.labels,
      num_samples=self.num_images,
      step=self.step,
    )
    values, _, _ = evaluation.instabilities(collected, self.spec, self.top_n)
    errors = evaluation.errors(collected)
    record = {
      "epoch": epoch + 1,
      "p": float(self.model.explainer.p),
      **{f"error/{k}": v for k, v in errors.items()},
      **{f"location_instability/{k}": v for k, v in values.items()},
    }
    self.history.append(record)
    with self.writer.as_default():
      for name, value in record.items():
        if name != "epoch" and value is not None:
          tf.summary.scalar(name, value, step=epoch + 1)
      tf.summary.image(
        "part_maps",
        self._part_map_images(collected.samples),
        step=epoch + 1,
        max_outputs=self.num_images,
      )
    self.writer.flush()
    if logs is not None:
      for name, value in record.items():
        if name != "epoch" and value is not None:
          logs[f"val_{name.replace('/', '_')}"] = value

  def _part_map_images(self, samples):
    """Each image beside the sum of its part maps, upsampled to the image size."""
    images = samples["images"] / 255.0
    maps = samples["explainer"].sum(-1, keepdims=True)
    maps = maps / np.maximum(maps.max(axis=(1, 2, 3), keepdims=True), 1e-12)
    maps = tf.image.resize(maps, images.shape[1:3], method="nearest").numpy()
    heat = np.concatenate([maps, np.zeros_like(maps), 1 - maps], -1)
    return np.concatenate([images, 0.5 * images + 0.5 * heat], axis=2).astype(np.float32)
