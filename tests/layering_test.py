"""Serving and evaluation do not depend on training code."""

import subprocess
import sys

import tensorflow as tf


class LayeringTest(tf.test.TestCase):
  def test_evaluation_and_export_import_nothing_from_train(self):
    code = (
      "import sys\n"
      "import tf_explainer.evaluate_lib, tf_explainer.export_lib, tf_explainer.models.io\n"
      "print(sorted(m for m in sys.modules if m.startswith('tf_explainer.train')))\n"
    )
    result = subprocess.run(
      [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    self.assertEqual(result.stdout.strip().splitlines()[-1], "[]")


if __name__ == "__main__":
  tf.test.main()
