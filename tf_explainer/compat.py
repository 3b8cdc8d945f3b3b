"""Workarounds for Keras behaviour the project cannot use as it is.

Each one names what it works around; `tests/train/compat_test.py` holds a test
per workaround that fails once Keras no longer needs it, so that the
workaround is removed then.
"""

import keras
import tensorflow as tf


class SkipDistributedSymbolicBuild:
  """Mixin for a model that is built in `__init__` and compiles no loss or metric.

  Keras's TensorFlow trainer builds a model symbolically before `fit` under a
  distribution strategy, and to do so averages one distributed input batch
  with `strategy.reduce("MEAN", ..., axis=None)`, which fails under
  MultiWorkerMirroredStrategy (keras-team/keras#20585). A model that is
  already built needs no batch for that: build it without one.
  """

  def _maybe_symbolic_build(self, iterator=None, data_batch=None):  # Keras-private override
    if getattr(self, "_distribute_strategy", None) is None:
      return
    with self.distribute_strategy.scope():
      self._symbolic_build(data_batch=None)


def logs_for_strategy(results):
  """Metric results that Keras can reduce across workers.

  Under MultiWorkerMirroredStrategy Keras reduces the logs of a step with
  `strategy.reduce("MEAN", v, axis=0)`, which needs an axis: each scalar gets
  one (the mean of a 1-vector is itself). Elsewhere `results` is returned as
  it is.
  """
  if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
    return {name: tf.reshape(v, [1]) for name, v in results.items()}
  return results


def inbound_layer(layer):
  """The layer whose output a functional-model layer takes as its (first) input.

  Keras 3 has no public accessor of a layer's inbound nodes; this reads the
  private `_inbound_nodes`. Returns `None` for a layer fed by an input.
  """
  nodes = layer._inbound_nodes  # pylint: disable=protected-access
  if not nodes or not nodes[0].parent_nodes:
    return None
  parent = nodes[0].parent_nodes[0].operation
  return None if isinstance(parent, keras.layers.InputLayer) else parent
