"""Evaluation metrics: location instability, part tracking and the unit-to-pixel mapping."""

from tf_explainer.metrics.location_instability import (
  assign_filter_categories,
  filter_instabilities,
  filter_landmark_deviations,
  filter_landmark_distances,
  location_instability,
  peaks_and_scores,
)
from tf_explainer.metrics.part_tracking import (
  fixed_point_peaks,
  landmark_peaks,
  part_tracking,
)
from tf_explainer.metrics.receptive_field import UnitMapping, unit_mapping

__all__ = [
  "UnitMapping",
  "assign_filter_categories",
  "filter_instabilities",
  "filter_landmark_deviations",
  "filter_landmark_distances",
  "fixed_point_peaks",
  "landmark_peaks",
  "location_instability",
  "part_tracking",
  "peaks_and_scores",
  "unit_mapping",
]
