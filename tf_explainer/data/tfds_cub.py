"""A TFDS builder for CUB-200-2011 with part locations, from a manually downloaded archive.

TFDS's own `caltech_birds2011` carries no part locations, which the location
instability needs. Place `CUB_200_2011.tgz` in the manual folder and build:

    import tensorflow_datasets as tfds
    from tf_explainer.data.tfds_cub import CubParts
    builder = CubParts(data_dir="~/tensorflow_datasets")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="~/downloads"))
    train = builder.as_dataset(split="train")

Examples hold the encoded image, label, bounding box, landmarks (row, col in
pixels, NaN where not visible) and the image id; the archive is read with the
same `read_part_dataset`, so validation and errors are those of the CUB reader.
"""

import os

import numpy as np
import tensorflow_datasets as tfds

from tf_explainer.data.cub import read_part_dataset

ARCHIVE = "CUB_200_2011.tgz"


class CubParts(tfds.core.GeneratorBasedBuilder):
  """CUB-200-2011 with bounding boxes and the 15 part locations."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Images, labels, boxes and part landmarks."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    f"Download {ARCHIVE} (CUB-200-2011) and place it in the manual_dir."
  )
  NUM_PARTS = 15

  def _info(self):
    return self.dataset_info_from_configs(
      features=tfds.features.FeaturesDict(
        {
          "image": tfds.features.Image(),
          "label": tfds.features.ClassLabel(num_classes=200),
          "bbox": tfds.features.Tensor(shape=(4,), dtype=np.float32),
          "landmarks": tfds.features.Tensor(shape=(None, 2), dtype=np.float32),
          "image_id": np.int64,
        }
      ),
      supervised_keys=("image", "label"),
      homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
    )

  def _split_generators(self, dl_manager):
    archive = os.path.join(dl_manager.manual_dir, ARCHIVE)
    if not os.path.exists(archive):
      raise FileNotFoundError(f"{archive}: missing. {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    extracted = dl_manager.extract(archive)
    root = os.path.join(extracted, "CUB_200_2011")
    if not os.path.isdir(root):
      root = extracted
    dataset = read_part_dataset(root)
    return {
      "train": self._generate_examples(dataset.subset(dataset.is_train)),
      "test": self._generate_examples(dataset.subset(~dataset.is_train)),
    }

  def _generate_examples(self, dataset):
    for i in range(len(dataset)):
      yield (
        int(dataset.image_ids[i]),
        {
          "image": dataset.image_paths[i],
          "label": int(dataset.labels[i]),
          "bbox": dataset.boxes[i],
          "landmarks": dataset.landmarks[i],
          "image_id": int(dataset.image_ids[i]),
        },
      )
