"""Distillation from a plain folder of images: no annotation is needed to train an explainer."""

import os
import shutil
import tempfile

import tensorflow as tf

from tests import programs, tiny_run
from tf_explainer import data as data_lib
from tf_explainer import evaluate_lib
from tf_explainer.train import explainer_lib


def _plain_folder(subfolders):
  """The tiny run's images copied into a plain folder: flat, or in two class subfolders."""
  source = data_lib.read_part_dataset(tiny_run.paths()["data"], check_images=False)
  root = tempfile.mkdtemp()
  for i, path in enumerate(source.image_paths):
    folder = os.path.join(root, f"class{i % 2}") if subfolders else root
    os.makedirs(folder, exist_ok=True)
    shutil.copy(path, os.path.join(folder, f"{i:03d}.jpg"))
  return root


class ImageFolderTest(tf.test.TestCase):
  def test_reads_flat_and_class_folders(self):
    flat = data_lib.read_part_dataset(_plain_folder(False))
    self.assertEqual(flat.layout, "images")
    self.assertLen(flat, 36)
    self.assertEqual(flat.landmarks.shape, (36, 0, 2))
    self.assertTrue(flat.is_train.all())
    nested = data_lib.read_part_dataset(_plain_folder(True))
    self.assertEqual(list(nested.class_names), ["class0", "class1"])
    self.assertEqual(int(nested.labels.sum()), 18)
    # Boxes are whole images: the pipeline's crop keeps every pixel.
    self.assertAllEqual(nested.boxes[0, :2], [0, 0])
    self.assertGreater(nested.boxes[0, 2], 1)

  def test_explainer_trains_and_evaluation_says_what_it_needs(self):
    folder = _plain_folder(False)
    model_dir = os.path.join(tempfile.mkdtemp(), "explainer")
    explainer, _ = explainer_lib.run(
      performer_dir=tiny_run.paths()["performer"],
      dataset_dir=folder,
      model_dir=model_dir,
      **tiny_run.EXPLAINER,
    )
    self.assertTrue(os.path.exists(os.path.join(model_dir, "explainer.keras")))
    with self.assertRaisesRegex(
      ValueError, r"plain folder of images; evaluation \(part locations\)"
    ):
      evaluate_lib.run(
        explainer_dir=model_dir, dataset_dir=folder, output_dir=tempfile.mkdtemp(), verbose=0
      )

  def test_evaluate_program_one_line(self):
    folder = _plain_folder(True)
    result = programs.run(
      "training/evaluate.py",
      f"--explainer_dir={tiny_run.paths()['explainer']}",
      f"--dataset_dir={folder}",
      f"--output_dir={os.path.join(tempfile.mkdtemp(), 'eval')}",
    )
    self.assertEqual(result.returncode, 1)
    lines = result.stderr.strip().splitlines()
    self.assertLen(lines, 1, result.stderr)
    self.assertIn("needs a dataset in the CUB layout", lines[0])


if __name__ == "__main__":
  tf.test.main()
