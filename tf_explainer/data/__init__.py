"""Part-annotated data: the CUB layout reader, the tf.data pipeline, the synthetic set."""

from tf_explainer.data.cub import (
  DatasetError,
  PartDataset,
  fingerprint,
  is_image_folder,
  read_part_dataset,
)
from tf_explainer.data.pipeline import (
  ON_ERROR,
  SPLITS,
  TASKS,
  TRAIN_SPLITS,
  check_train_split,
  check_zoom,
  held_out_split,
  make_dataset,
  read_checked,
  require_annotations,
  select,
  split_mask,
  task_labels,
  validation_mask,
)

__all__ = [
  "DatasetError",
  "ON_ERROR",
  "PartDataset",
  "SPLITS",
  "TASKS",
  "TRAIN_SPLITS",
  "check_train_split",
  "check_zoom",
  "fingerprint",
  "is_image_folder",
  "held_out_split",
  "make_dataset",
  "read_checked",
  "read_part_dataset",
  "require_annotations",
  "select",
  "split_mask",
  "task_labels",
  "validation_mask",
]
