"""Tests for tf_explainer.data.pipeline: crops, landmarks through crop and resize."""

import os
import tempfile

import numpy as np
from PIL import Image
import tensorflow as tf

from tests.data.cub_test import write_tree
from tf_explainer.data import make_dataset, read_part_dataset, task_labels


class PipelineTest(tf.test.TestCase):
  def test_landmark_follows_marked_pixel(self):
    """A bright 2 x 2 block at a landmark stays under the landmark after crop and resize.

    Box x = 2..22, y = 3..18 (20 x 15) resized to 40 x 40: scale 2 on columns, 8/3 on
    rows. The landmark (row 9.5, col 11.5), the centre of the block, maps to
    ((9.5 - 3 + 0.5) * 40/15 - 0.5, (11.5 - 2 + 0.5) * 2 - 0.5) = (18.17, 19.5).
    """
    root = write_tree(tempfile.mkdtemp(), n=1, parts=((11.5, 9.5, 1), (0, 0, 0)))
    image = np.zeros((30, 40, 3), np.uint8)
    image[9:11, 11:13] = 255
    Image.fromarray(image).save(os.path.join(root, "images", "001.a", "img1.png"))
    os.replace(
      os.path.join(root, "images", "001.a", "img1.png"),
      os.path.join(root, "images", "001.a", "img1.jpg"),
    )  # lossless content
    batch = next(iter(make_dataset(read_part_dataset(root), 40, batch_size=1)))
    row, col = batch["landmarks"][0, 0].numpy()
    self.assertAllClose([row, col], [18.1667, 19.5], atol=1e-3)
    pixels = batch["images"][0, ..., 0].numpy()
    peak = np.array(np.unravel_index(np.argmax(pixels), pixels.shape))
    self.assertLessEqual(np.abs(peak - [row, col]).max(), 1.5)
    self.assertTrue(np.isnan(batch["landmarks"][0, 1]).all())

  def test_flip_moves_landmarks(self):
    root = write_tree(tempfile.mkdtemp(), n=4)
    d = read_part_dataset(root)
    plain = next(iter(make_dataset(d, 20, batch_size=4)))
    flipped = [
      next(iter(make_dataset(d, 20, batch_size=4, augment=True, seed=seed))) for seed in range(4)
    ]
    cols = {float(b["landmarks"][0, 0, 1]) for b in flipped}
    expected = float(plain["landmarks"][0, 0, 1])
    self.assertTrue(cols <= {expected, 19.0 - expected})

  def test_zoom_moves_landmarks_with_the_pixels(self):
    """After a random zoom-in (and flip) the bright block is still under its landmark."""
    root = write_tree(tempfile.mkdtemp(), n=6, parts=((11.5, 9.5, 1), (0, 0, 0)))
    image = np.zeros((30, 40, 3), np.uint8)
    image[9:11, 11:13] = 255
    for i in range(1, 7):
      path = os.path.join(root, "images", "001.a", f"img{i}")
      Image.fromarray(image).save(path + ".png")
      os.replace(path + ".png", path + ".jpg")  # lossless content
    d = read_part_dataset(root)
    plain = next(iter(make_dataset(d, 40, batch_size=6)))["landmarks"][:, 0].numpy()
    moved = []
    for seed in range(3):
      batch = next(iter(make_dataset(d, 40, batch_size=6, augment=True, zoom=0.5, seed=seed)))
      for pixels, (row, col) in zip(batch["images"][..., 0].numpy(), batch["landmarks"][:, 0]):
        peak = np.array(np.unravel_index(np.argmax(pixels), pixels.shape))
        self.assertLessEqual(np.abs(peak - [row, col]).max(), 2.0)
      moved.append(np.abs(batch["landmarks"][:, 0].numpy() - plain).max(axis=1))
    self.assertGreater(np.count_nonzero(np.concatenate(moved) > 0.5), 9)  # most images moved
    with self.assertRaisesRegex(ValueError, r"zoom=1.0: expected a fraction"):
      make_dataset(d, 40, augment=True, zoom=1.0)

  def test_erase_paints_one_square_per_image_its_mean_colour(self):
    """erase=0.25 at 40 px: a 10 x 10 square of each image takes its mean colour, the rest
    and the landmarks stay as the flip leaves them; the same seed erases the same place."""
    root = write_tree(tempfile.mkdtemp(), n=4)
    rng = np.random.default_rng(0)
    for i in range(1, 5):  # noise, so that the mean colour differs from the pixels
      path = os.path.join(root, "images", "001.a", f"img{i}")
      Image.fromarray(rng.integers(0, 256, (30, 40, 3), np.uint8)).save(path + ".png")
      os.replace(path + ".png", path + ".jpg")  # lossless content
    d = read_part_dataset(root)
    for seed in range(2):
      plain = next(iter(make_dataset(d, 40, batch_size=4, augment=True, seed=seed)))
      erased = next(iter(make_dataset(d, 40, batch_size=4, augment=True, erase=0.25, seed=seed)))
      again = next(iter(make_dataset(d, 40, batch_size=4, augment=True, erase=0.25, seed=seed)))
      self.assertAllEqual(erased["images"], again["images"])
      self.assertAllEqual(erased["landmarks"], plain["landmarks"])
      for before, after in zip(plain["images"].numpy(), erased["images"].numpy()):
        changed = np.any(before != after, axis=-1)
        rows, cols = np.nonzero(changed)
        self.assertLessEqual(rows.max() - rows.min() + 1, 10)
        self.assertLessEqual(cols.max() - cols.min() + 1, 10)
        self.assertGreater(changed.sum(), 50)  # most of the square differs from the mean
        self.assertAllClose(
          after[changed], np.broadcast_to(before.mean((0, 1)), after[changed].shape)
        )
    with self.assertRaisesRegex(ValueError, r"erase=1.5: expected a fraction"):
      make_dataset(d, 40, augment=True, erase=1.5)

  def test_epochs_depend_on_seed_and_epoch_only(self):
    root = write_tree(tempfile.mkdtemp(), n=4)
    d = read_part_dataset(root)

    def batches(seed, first_epoch, num_epochs=6):
      ds = make_dataset(
        d,
        20,
        batch_size=2,
        shuffle=True,
        augment=True,
        zoom=0.3,
        seed=seed,
        num_epochs=num_epochs,
        first_epoch=first_epoch,
      )
      return [(b["index"].numpy().tolist(), b["images"].numpy()) for b in ds]

    run = batches(seed=1, first_epoch=0)
    self.assertLen(run, 12)  # 6 epochs of 2 batches
    again = batches(seed=1, first_epoch=0)
    resumed = batches(seed=1, first_epoch=4)
    for (index, images), (index2, images2) in zip(run, again):
      self.assertEqual(index, index2)
      self.assertAllEqual(images, images2)
    for (index, images), (index2, images2) in zip(run[8:], resumed):
      self.assertEqual(index, index2)
      self.assertAllEqual(images, images2)
    # Each epoch holds every image once; epochs and seeds differ in order.
    orders = [sum((run[2 * e][0], run[2 * e + 1][0]), []) for e in range(6)]
    for order in orders:
      self.assertEqual(sorted(order), [0, 1, 2, 3])
    self.assertGreater(len({tuple(o) for o in orders}), 1)
    other = batches(seed=2, first_epoch=0)
    self.assertNotEqual([i for i, _ in run], [i for i, _ in other])

  def test_validation_split_is_carved_from_train_by_image_id(self):
    from tf_explainer.data import synthetic  # pylint: disable=import-outside-toplevel
    from tf_explainer.data import split_mask, validation_mask  # pylint: disable=import-outside-toplevel

    root = synthetic.generate(
      os.path.join(tempfile.mkdtemp(), "d"), 60, image_size=48, seed=0, progress=False
    )
    d = read_part_dataset(root)
    val = validation_mask(d)
    self.assertTrue(np.all(d.is_train[val]))  # only training images
    for label in np.unique(d.labels):
      n = np.sum(d.is_train & (d.labels == label))
      self.assertEqual(np.sum(val & (d.labels == label)), max(1, round(0.15 * n)))
    # The same images whatever the order of the rows.
    order = np.random.default_rng(0).permutation(len(d))
    self.assertEqual(
      set(d.subset(order).image_ids[validation_mask(d.subset(order))]), set(d.image_ids[val])
    )
    fit = split_mask(d, "train_without_validation")
    self.assertAllEqual(fit | val, d.is_train)
    self.assertFalse(np.any(fit & val))
    with self.assertRaisesRegex(ValueError, "split must be one of"):
      split_mask(d, "dev")

  def test_task_labels(self):
    labels = np.array([0, 2, 1, 2])
    self.assertAllEqual(task_labels(labels, "single", 2), [0, 1, 0, 1])
    self.assertAllEqual(task_labels(labels, "multi"), labels)
    with self.assertRaisesRegex(ValueError, "target_class"):
      task_labels(labels, "single")
    with self.assertRaisesRegex(ValueError, "task"):
      task_labels(labels, "pairs")


if __name__ == "__main__":
  tf.test.main()
