"""Strategies and precision policies from flag strings."""

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def get_strategy(name):
  """`tf.distribute` strategy for `--strategy`.

  `mirrored` uses every local GPU, or every logical CPU device when there is
  no GPU; `multi_worker` reads the cluster from `TF_CONFIG`.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in devices])
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise ValueError(f"`strategy` must be one of {STRATEGIES}, got {name!r}.")


def set_precision(name):
  """Sets Keras' global dtype policy for `--mixed_precision` (losses stay float32)."""
  if name not in PRECISIONS:
    raise ValueError(f"`mixed_precision` must be one of {PRECISIONS}, got {name!r}.")
  keras.mixed_precision.set_global_policy(name)


def check_global_batch(batch_size, strategy):
  replicas = strategy.num_replicas_in_sync
  if batch_size % replicas:
    raise ValueError(
      f"batch_size={batch_size} is not divisible by the {replicas} replicas of the strategy."
    )
