"""Tests for benchmarks.part_ceiling_lib: filters on the target layer, with and without labels."""

import numpy as np
import tensorflow as tf

from benchmarks import part_ceiling_lib as lib
from tf_explainer.metrics.receptive_field import UnitMapping

# A 5 x 5 map on a 9 px image: unit u at pixel 2 u.
MAPPING = UnitMapping(center=(0.0, 0.0), stride=(2.0, 2.0))
SIZE, SIDE = 9, 5


def grid_units():
  grid = np.stack(np.meshgrid(np.arange(SIDE), np.arange(SIDE), indexing="ij"), -1)
  return MAPPING.to_pixels(grid.reshape(-1, 2))


def one_hot(unit):
  """A `(1, 1, U)` heatmap on one unit (row, col)."""
  out = np.zeros((1, 1, SIDE * SIDE), np.float32)
  out[0, 0, unit[0] * SIDE + unit[1]] = 1.0
  return out


def blobs(units, channels=3):
  """`(N, SIDE, SIDE, channels)` maps: channel 0 is 1 at each image's unit, the rest noise."""
  rng = np.random.default_rng(0)
  maps = rng.uniform(0.0, 0.2, (len(units), SIDE, SIDE, channels)).astype(np.float32)
  maps[np.arange(len(units)), units[:, 0], units[:, 1], 0] = 1.0
  return maps


class EquivarianceLossTest(tf.test.TestCase):
  def test_equivariance_loss(self):
    """The top-left quarter zoomed in doubles every pixel: a peak at (2, 2) must move to (4, 4)."""
    units = grid_units()
    boxes = np.array([[0.0, 0.0, 0.5, 0.5]], np.float32)
    follows = lib.equivariance_loss(one_hot((1, 1)), one_hot((2, 2)), units, boxes, SIZE)
    stays = lib.equivariance_loss(one_hot((1, 1)), one_hot((1, 1)), units, boxes, SIZE)
    self.assertAllClose(follows, 0.0)
    self.assertAllClose(stays, (2.0**2 + 2.0**2) / SIZE**2)
    # A peak the crop leaves out ((6, 6) goes to (12, 12)) does not count.
    self.assertAllClose(
      lib.equivariance_loss(one_hot((3, 3)), one_hot((0, 0)), units, boxes, SIZE), 0.0
    )


class FiltersTest(tf.test.TestCase):
  def test_grid_floor_tracks_every_part(self):
    """Landmarks within half a pixel of a unit: snapped, every peak is a hit."""
    rng = np.random.default_rng(1)
    units = rng.integers(0, SIDE, (40, 2, 2))
    landmarks = MAPPING.to_pixels(units) + rng.uniform(-0.5, 0.5, units.shape)
    row = lib.grid_floor(landmarks, MAPPING, SIDE, SIZE, ["a", "b"])
    self.assertEqual(row["per_part"], {"a": 1, "b": 1})
    self.assertEqual(row["hit_rate_of_tracking"], 1.0)

  def test_supervised_filter_finds_the_part(self):
    """Channel 0 marks the part: the trained filter peaks on it on every held-out image."""
    rng = np.random.default_rng(2)
    units = rng.integers(0, SIDE, (64, 2))
    landmarks = MAPPING.to_pixels(units)[:, None]
    train = {"maps": blobs(units[:48]), "landmarks": landmarks[:48]}
    filters = lib.supervised_filters(train, MAPPING, epochs=300)
    row = lib.measure(filters(blobs(units[48:])), landmarks[48:], MAPPING, SIZE, ["part"])
    self.assertEqual(row["per_part"], {"part": 1})
    self.assertEqual(row["hit_rate_of_tracking"], 1.0)

  def test_equivariant_training_lowers_the_loss(self):
    """Crops of the top-left quarter: a blob at unit (r, c) <= 2 is at (2r, 2c) in the crop.
    Filters trained on the pairs end with a lower loss than untrained ones."""
    rng = np.random.default_rng(3)
    units = rng.integers(0, 3, (32, 2))
    data = {
      "maps": blobs(units),
      "warped": blobs(2 * units),
      "boxes": np.tile(np.array([[0.0, 0.0, 0.5, 0.5]], np.float32), (32, 1)),
      "source": np.arange(32),
    }
    _, untrained = lib.equivariant_filters(data, MAPPING, SIZE, filters=2, steps=1, batch_size=32)
    _, trained = lib.equivariant_filters(data, MAPPING, SIZE, filters=2, steps=300, batch_size=32)
    self.assertLess(trained, 0.5 * untrained)

  def test_a_start_keeps_its_peaks(self):
    """Started from a conv's weights, untrained: each channel peaks where the conv does."""
    rng = np.random.default_rng(5)
    maps = rng.uniform(0.0, 1.0, (8, SIDE, SIDE, 3)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    data = {
      "maps": maps,
      "warped": maps,
      "boxes": np.zeros((8, 4), np.float32),
      "source": np.arange(8),
    }
    filters, _ = lib.equivariant_filters(data, MAPPING, SIZE, steps=0, start=(kernel, bias))
    direct = tf.nn.conv2d(maps, kernel, 1, "SAME").numpy() + bias
    flat = lambda x: x.reshape(len(x), -1, x.shape[-1]).argmax(1)  # noqa: E731
    self.assertAllEqual(flat(filters(maps)), flat(direct))


if __name__ == "__main__":
  tf.test.main()
