"""The harnesses' performer flags: which pretrained weights the performers start from.

Run in child processes: each harness defines these flags once per process.
"""

import json
import os
import tempfile

import tensorflow as tf

from tests import programs

START = """
import json, sys
from absl import flags
from benchmarks import common

weights = common.define_performer_flags()[0]
flags.FLAGS(["harness"] + sys.argv[1:])
print(json.dumps([common.performer_start(weights),
                  common.performer_weights_sha256("alexnet", weights)]))
"""


def _run(*args, code=START):
  return programs.run("-c", code, *args)


class PerformerFlagsTest(tf.test.TestCase):
  def test_a_pretraining_of_ones_own_is_passed_and_recorded(self):
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "alexnet_synthetic.json"), "w") as f:
      json.dump({"sha256": "0123abcd"}, f)
    result = _run("--performer_weights=synthetic", f"--performer_synthetic_dir={folder}")
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    start, digest = json.loads(result.stdout.strip().splitlines()[-1])
    self.assertEqual(start, {"weights": "synthetic", "synthetic_dir": folder})
    self.assertEqual(digest, "0123abcd")

  def test_from_scratch_records_no_weights(self):
    result = _run("--performer_weights=scratch")
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertEqual(json.loads(result.stdout.strip().splitlines()[-1]), [{"weights": None}, None])

  def test_recipe_flags_are_the_performer_settings_of_their_names(self):
    code = """
import json, sys
from absl import flags
from benchmarks import common
from tf_explainer import settings
from tf_explainer.train import performer_lib

common.define_performer_flags()
flags.FLAGS(["harness"] + sys.argv[1:])
recipe = common.performer_recipe()
names = set(settings.leaf_names(performer_lib.PerformerSettings))
print(json.dumps([recipe, sorted(set(recipe) - names)]))
"""
    result = _run(
      "--performer_warmup_epochs=3",
      "--performer_label_smoothing=0.1",
      "--performer_freeze_through=conv2",
      "--performer_learning_rate_schedule=cosine",
      code=code,
    )
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    recipe, unknown = json.loads(result.stdout.strip().splitlines()[-1])
    self.assertEqual(unknown, [])
    self.assertEqual(
      recipe,
      {
        "learning_rate": 1e-3,
        "learning_rate_schedule": "cosine",
        "zoom": 0.0,
        "warmup_epochs": 3,
        "label_smoothing": 0.1,
        "freeze_through": "conv2",
      },
    )

  def test_a_folder_without_synthetic_weights_is_a_flag_error(self):
    result = programs.run("-m", "benchmarks.paper_tables", "--performer_synthetic_dir=/nowhere")
    self.assertNotEqual(result.returncode, 0)
    self.assertIn(
      "--performer_synthetic_dir applies only to --performer_weights=synthetic", result.stderr
    )
    self.assertNotIn("Traceback", result.stderr)


if __name__ == "__main__":
  tf.test.main()
