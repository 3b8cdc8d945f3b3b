"""Reductions over all replicas of a `tf.distribute` strategy.

The explainer's batch-level quantities (the filter loss's softmax over the
batch, NormLayer statistics, gradient norms, category means) must be those of
the global batch, not of one replica's share. Outside a multi-replica context
these functions return their input unchanged.
"""

import tensorflow as tf


def _context():
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return None
  return context


def num_replicas():
  context = _context()
  return 1 if context is None else context.num_replicas_in_sync


def global_sum(value):
  """Sum of `value` over replicas."""
  context = _context()
  return value if context is None else context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def global_max(value):
  """Element-wise maximum of `value` over replicas."""
  context = _context()
  if context is None:
    return value
  return tf.reduce_max(context.all_gather(value[None], axis=0), axis=0)
