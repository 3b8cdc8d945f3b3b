"""Tests for benchmarks.real_photos_lib: the figures a row shows and the table over seeds."""

import os
import tempfile

import tensorflow as tf

from benchmarks import real_photos_lib as real_photos


def _metrics(tracking, patterns, per_part_patterns):
  layer = {
    "share": tracking,
    "pattern_share": sum(per_part_patterns.values()) / patterns,
    "patterns": patterns,
    "per_part_patterns": per_part_patterns,
  }
  return {
    "location_instability": {"explainer": 0.05, "performer_top_conv": 0.1},
    "p": 0.9,
    "error": {"performer": 0.01, "explainer": 0.03, "delta": 0.02},
    "part_tracking": {
      "explainer": layer,
      "performer_top_conv": layer,
      "fixed_point": {"location_instability": 0.04},
    },
  }


class RealPhotosTest(tf.test.TestCase):
  def test_complete_caches_are_shared_by_hard_links(self):
    seed_dir = tempfile.mkdtemp()
    files = {
      "a/explainer/feature_cache/train-k1/complete.json": "{}",
      "a/explainer/feature_cache/train-k1/shard": "data",
      "a/explainer/feature_cache/train-k2.tmp/shard": "half",  # interrupted: not shared
      "b/explainer/feature_cache/train-k3/complete.json": "{}",
      "performer/performer.keras": "",
    }
    for name, text in files.items():
      os.makedirs(os.path.dirname(os.path.join(seed_dir, name)), exist_ok=True)
      with open(os.path.join(seed_dir, name), "w") as f:
        f.write(text)
    new = os.path.join(seed_dir, "c", "explainer")
    real_photos.share_caches(seed_dir, new)
    cache = os.path.join(new, "feature_cache")
    self.assertEqual(sorted(os.listdir(cache)), ["train-k1", "train-k3"])
    linked = os.path.join(cache, "train-k1", "shard")
    self.assertTrue(
      os.path.samefile(linked, os.path.join(seed_dir, "a/explainer/feature_cache/train-k1/shard"))
    )
    # A variant that has its own cache folder is left alone.
    os.makedirs(os.path.join(seed_dir, "d", "explainer", "feature_cache"))
    real_photos.share_caches(seed_dir, os.path.join(seed_dir, "d", "explainer"))
    self.assertEqual(os.listdir(os.path.join(seed_dir, "d", "explainer", "feature_cache")), [])

  def test_figures_of_one_run(self):
    """10 patterns: nose 5, eyes 1 -> 60% of patterns track; two parts hold >= 10% of them."""
    figures = real_photos.figures_of(_metrics(0.5, 10, {"nose": 5, "eyes": 1, "mouth": 0}))
    self.assertAllClose(figures["ratio"], 0.5)
    self.assertAllClose(figures["expl_pattern_share"], 60.0)
    self.assertEqual(figures["expl_parts_10pct"], 2)
    self.assertAllClose(figures["delta_error_points"], 2.0)
    self.assertAllClose(figures["fixed_point_instability"], 0.04)

  def test_table_means_over_seeds(self):
    records = [
      {"performer": "imagenet", "variant": "paper", "metrics": _metrics(t, 10, {"nose": 1})}
      for t in (0.2, 0.4)
    ]
    text = real_photos.table(records)
    self.assertIn("| imagenet | paper | 2 | 30 ± 14 |", text)


if __name__ == "__main__":
  tf.test.main()
