"""Model, evaluation and export folders on a non-local filesystem (`ram://`, as `gs://`)."""

import tensorflow as tf

from tests import tiny_run
from tf_explainer import evaluate_lib, export_lib, io_utils
from tf_explainer.models import io as model_io
from tf_explainer.train import explainer_lib, performer_lib


class GfileTest(tf.test.TestCase):
  def test_whole_pipeline_in_memory_filesystem(self):
    p = tiny_run.paths()
    root = "ram://tf_explainer_gfile_test"
    performer_lib.run(dataset_dir=p["data"], model_dir=f"{root}/performer", **tiny_run.PERFORMER)
    self.assertEqual(io_utils.owner(f"{root}/performer"), "performer")
    for name in ("performer.keras", "performer.json", "run.json", "run_settings.json"):
      self.assertTrue(tf.io.gfile.exists(f"{root}/performer/{name}"), name)
    explainer_lib.run(
      performer_dir=f"{root}/performer",
      dataset_dir=p["data"],
      model_dir=f"{root}/explainer",
      **dict(tiny_run.EXPLAINER, monitor_every=1, monitor_split="all"),
    )
    for name in ("explainer.keras", "explainer.json", "feature_cache", "logs"):
      self.assertTrue(tf.io.gfile.exists(f"{root}/explainer/{name}"), name)
    explainer, _, spec, manifest = model_io.load_explainer(f"{root}/explainer")
    self.assertEqual(manifest["performer_dir"], f"{root}/performer")
    metrics = evaluate_lib.run(
      explainer_dir=f"{root}/explainer",
      dataset_dir=p["data"],
      output_dir=f"{root}/evaluation",
      verbose=0,
      split="all",
    )
    self.assertEqual(io_utils.read_json(f"{root}/evaluation/metrics.json")["p"], metrics["p"])
    for name in ("report.md", "receptive_fields.png", "grad_cam.png"):
      self.assertTrue(tf.io.gfile.exists(f"{root}/evaluation/{name}"), name)
    final = export_lib.run(
      explainer_dir=f"{root}/explainer", export_base=f"{root}/serving", version=3
    )
    self.assertEqual(final, f"{root}/serving/3")
    loaded = tf.saved_model.load(final)
    self.assertIn("serving_default", loaded.signatures)
    with self.assertRaisesRegex(ValueError, "exists already"):
      export_lib.run(explainer_dir=f"{root}/explainer", export_base=f"{root}/serving", version=3)
    io_utils.rmtree(root)


if __name__ == "__main__":
  tf.test.main()
