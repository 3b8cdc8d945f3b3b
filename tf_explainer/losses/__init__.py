"""Losses of the explainer."""

from tf_explainer.losses.filter_loss import (
  CENTRES,
  GRADIENTS,
  filter_loss,
  icnn_beta_target,
  icnn_centres,
  icnn_gradient,
  icnn_masks,
  icnn_strengths,
  weighted_filter_loss,
)

__all__ = [
  "CENTRES",
  "GRADIENTS",
  "filter_loss",
  "icnn_beta_target",
  "icnn_centres",
  "icnn_gradient",
  "icnn_masks",
  "icnn_strengths",
  "weighted_filter_loss",
]
