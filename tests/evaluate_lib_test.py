"""Tests for the evaluation run (training/evaluate.py) on the tiny run."""

import json
import math
import os
import shutil
import tempfile

import tensorflow as tf

from tests import programs, tiny_run
from tf_explainer import evaluate_lib, io_utils
from tf_explainer.models import io as model_io
from tf_explainer.train import explainer_lib


class EvaluateTest(tf.test.TestCase):
  def test_script_writes_metrics_report_and_figures(self):
    p = tiny_run.paths()
    out = os.path.join(tempfile.mkdtemp(), "eval")
    result = programs.run(
      "training/evaluate.py",
      f"--explainer_dir={p['explainer']}",
      f"--dataset_dir={p['data']}",
      f"--output_dir={out}",
      "--top_n=100",
      "--split=all",
    )
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(os.path.join(out, "metrics.json")) as f:
      metrics = json.load(f)
    self.assertEqual(
      set(metrics["location_instability"]), {"explainer", "performer_top_conv", "performer_target"}
    )
    for value in metrics["location_instability"].values():
      self.assertTrue(0 < value < 1)
    self.assertTrue(0 < metrics["p"] < 1)
    share = metrics["interpretable_share"]
    self.assertTrue(0 < share["all"] < 1)
    self.assertEqual(
      set(share), {"all", "001.bird", "002.cat", "003.cow", "004.dog", "005.horse", "006.sheep"}
    )
    self.assertEqual(set(metrics["error"]), {"performer", "explainer", "delta"})
    self.assertTrue(all(math.isfinite(v) for v in metrics["error"].values()))
    self.assertTrue(any("fewer" in n for n in metrics["notes"]))  # 36 images < top_n
    self.assertEqual(sum(metrics["filters_per_part"].values()), 48)
    # With at most 36 images every top_n of 20 or more uses them all: equal figures.
    self.assertEqual(set(metrics["location_instability_top_n"]), {"20", "50", "100"})
    self.assertEqual(metrics["location_instability_top_n"]["50"], metrics["location_instability"])
    for key in ("silent_share", "central_peak_share"):
      for name, share in metrics[key].items():
        self.assertTrue(0.0 <= share <= 1.0, (key, name))
    with open(os.path.join(out, "report.md")) as f:
      report = f.read()
    for name in ("receptive_fields.png", "grad_cam.png", "part_contributions.png"):
      self.assertGreater(os.path.getsize(os.path.join(out, name)), 1000)
      self.assertIn(f"({name})", report)
    self.assertIn("| Explainer |", report)
    # AlexNet's grouped convolutions run through a fresh tf.function on every eager
    # call; drawing the figures eagerly made TensorFlow warn about retracing.
    self.assertNotIn("retracing", result.stderr)
    # The tiny performer trained from scratch, and the report says so.
    self.assertEqual(metrics["performer_weights"], "scratch")
    self.assertIn("alexnet trained from scratch", report)

  def test_dataset_without_landmarks(self):
    p = tiny_run.paths()
    data = os.path.join(tempfile.mkdtemp(), "data")
    shutil.copytree(p["data"], data)
    with open(os.path.join(data, "parts", "part_locs.txt")) as f:
      rows = [line.split() for line in f if line.strip()]
    with open(os.path.join(data, "parts", "part_locs.txt"), "w") as f:
      f.writelines(f"{a} {b} 0 0 0\n" for a, b, *_ in rows)
    metrics = evaluate_lib.run(
      explainer_dir=p["explainer"],
      dataset_dir=data,
      output_dir=tempfile.mkdtemp(),
      split="all",
      verbose=0,
    )
    self.assertEqual(
      metrics["location_instability"],
      {"explainer": None, "performer_top_conv": None, "performer_target": None},
    )
    self.assertTrue(any("no landmarks" in n for n in metrics["notes"]))
    self.assertTrue(0 < metrics["p"] < 1)

  def test_explainer_of_another_architecture(self):
    p = tiny_run.paths()
    other = os.path.join(tempfile.mkdtemp(), "performer")
    from tf_explainer.train import performer_lib

    performer_lib.run(
      dataset_dir=p["data"],
      model_dir=other,
      **dict(tiny_run.PERFORMER, arch="vgg16", image_size=96),
    )
    moved = os.path.join(tempfile.mkdtemp(), "explainer")
    shutil.copytree(p["explainer"], moved)
    manifest_path = os.path.join(moved, "explainer.json")
    with open(manifest_path) as f:
      manifest = json.load(f)
    manifest["performer_dir"] = other
    with open(manifest_path, "w") as f:
      json.dump(manifest, f)
    with self.assertRaisesRegex(ValueError, r"expects target maps \[?\(?6, 6, 48.*vgg16"):
      model_io.load_explainer(moved)


class ExplainerClsEvaluationTest(tf.test.TestCase):
  def test_explainer_cls_error_in_metrics_and_report(self):
    p = tiny_run.paths()
    cls_dir = os.path.join(tempfile.mkdtemp(), "cls")
    explainer, _ = explainer_lib.run(
      performer_dir=p["performer"],
      dataset_dir=p["data"],
      model_dir=cls_dir,
      objective="classification",
      monitor_every=0,
      **tiny_run.EXPLAINER,
    )
    manifest = io_utils.read_json(os.path.join(cls_dir, model_io.MANIFEST_FILE))
    self.assertEqual(model_io.trained_loss(manifest)["objective"], "classification")
    self.assertNotIn("objective", manifest["config"])  # the network's config: its shape only
    out = tempfile.mkdtemp()
    metrics = evaluate_lib.run(
      explainer_dir=p["explainer"],
      dataset_dir=p["data"],
      output_dir=out,
      split="all",
      make_figures=False,
      explainer_cls_dir=cls_dir,
      verbose=0,
    )
    self.assertTrue(0 <= metrics["error"]["explainer_cls"] <= 1)
    with open(os.path.join(out, "report.md")) as f:
      self.assertIn("Explainer+cls error:", f.read())
    with self.assertRaisesRegex(ValueError, "not the Explainer\\+cls baseline"):
      evaluate_lib.run(
        explainer_dir=p["explainer"],
        dataset_dir=p["data"],
        output_dir=out,
        explainer_cls_dir=p["explainer"],
        make_figures=False,
        verbose=0,
      )


if __name__ == "__main__":
  tf.test.main()
