"""Part-annotated data: the CUB layout reader, the tf.data pipeline, the synthetic set."""

from tf_explainer.data.cub import DatasetError, PartDataset, read_part_dataset
from tf_explainer.data.pipeline import make_dataset, select, task_labels

__all__ = ["DatasetError", "PartDataset", "make_dataset", "read_part_dataset", "select",
           "task_labels"]
