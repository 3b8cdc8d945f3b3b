"""The ablation study's records: a rerun replaces only the same experiment.

Run in a child process: `benchmarks.ablations` and `benchmarks.paper_tables`
define flags of the same names, so one process cannot import both.
"""

import tempfile

import tensorflow as tf

from tests import programs

CHECK = """
import json, os, sys
from benchmarks import ablations

def record(ratio, **recipe):
  fixed = dict(variant="default", arch="alexnet", performer_weights="synthetic")
  return dict(fixed, ratio=ratio, **recipe)

path = os.path.join(sys.argv[1], "ablations.json")
with open(path, "w") as f:
  json.dump([record(0.5)], f)  # written before the recipe was recorded: constant, no zoom
ratios = lambda records: [r["ratio"] for r in ablations.merged(path, records)]
cosine = record(0.4, performer_learning_rate_schedule="cosine", performer_zoom=0.0)
constant = record(0.6, performer_learning_rate_schedule="constant", performer_zoom=0.0)
zoom = record(0.7, performer_learning_rate_schedule="constant", performer_zoom=0.25)
other = record(
  0.8, performer_learning_rate_schedule="constant", performer_zoom=0.0,
  performer_weights_sha256="other weights",
)
print(json.dumps([ratios([cosine]), ratios([constant]), ratios([zoom]), ratios([other])]))
"""


class MergedTest(tf.test.TestCase):
  def test_performer_recipes_are_separate_experiments(self):
    result = programs.run("-c", CHECK, tempfile.mkdtemp())
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    # Another schedule, zoom or pretrained weights is kept beside the old record; the same
    # recipe replaces it.
    self.assertEqual(
      result.stdout.strip().splitlines()[-1], "[[0.5, 0.4], [0.6], [0.5, 0.7], [0.5, 0.8]]"
    )


if __name__ == "__main__":
  tf.test.main()
