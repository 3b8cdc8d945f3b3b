"""Losses of the explainer."""

from tf_explainer.losses.filter_loss import filter_loss, weighted_filter_loss

__all__ = ["filter_loss", "weighted_filter_loss"]
