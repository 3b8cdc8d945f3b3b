"""Tests for the TFDS builder on a small CUB-layout archive written by the test."""

import os
import tarfile
import tempfile

import tensorflow as tf
import tensorflow_datasets as tfds

from tf_explainer.data import read_part_dataset, synthetic
from tf_explainer.data.tfds_cub import CubParts


class CubPartsTest(tf.test.TestCase):
  def test_builds_from_manual_archive(self):
    tmp = tempfile.mkdtemp()
    root = synthetic.generate(os.path.join(tmp, "CUB_200_2011"), 12, 48, progress=False)
    manual = os.path.join(tmp, "manual")
    os.makedirs(manual)
    with tarfile.open(os.path.join(manual, "CUB_200_2011.tgz"), "w:gz") as tar:
      tar.add(root, arcname="CUB_200_2011")
    builder = CubParts(data_dir=os.path.join(tmp, "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual))
    expected = read_part_dataset(root)
    examples = list(
      builder.as_dataset(split="train")
      .concatenate(builder.as_dataset(split="test"))
      .as_numpy_iterator()
    )
    self.assertLen(examples, len(expected))
    by_id = {int(e["image_id"]): e for e in examples}
    for i, image_id in enumerate(expected.image_ids):
      example = by_id[int(image_id)]
      self.assertEqual(example["label"], expected.labels[i])
      self.assertAllClose(example["landmarks"], expected.landmarks[i])
      self.assertAllClose(example["bbox"], expected.boxes[i])
      self.assertEqual(example["image"].shape, (48, 48, 3))

  def test_missing_archive(self):
    tmp = tempfile.mkdtemp()
    builder = CubParts(data_dir=os.path.join(tmp, "tfds"))
    with self.assertRaisesRegex(Exception, r"CUB_200_2011\.tgz: missing"):
      builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=tmp))


if __name__ == "__main__":
  tf.test.main()
