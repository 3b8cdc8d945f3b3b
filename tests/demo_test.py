"""The end-to-end demo at tiny scale: every step runs and leaves its files."""

import json
import math
import os
import tempfile

import numpy as np
import pytest
import tensorflow as tf

from tests import programs
from tf_explainer import settings as config_lib


class DemoSettingsTest(tf.test.TestCase):
  def test_alexnet_fine_tunes_the_shipped_network_by_default(self):
    from tf_explainer import demo

    # Refused in one line before anything is written: a size the shipped network lacks.
    work = os.path.join(tempfile.mkdtemp(), "demo")
    with self.assertRaisesRegex(
      ValueError,
      r"performer_weights=synthetic \(the default for alexnet\) fine-tunes the shipped alexnet, "
      r"which needs image_size=131, width=0.25, fc_units=256: .*--performer_weights=scratch",
    ):
      demo.run(work_dir=work, width=0.125, verbose=0)
    self.assertFalse(os.path.exists(work))
    with self.assertRaisesRegex(ValueError, r"^performer_zoom=1.0: expected a fraction"):
      demo.run(work_dir=work, performer_zoom=1.0, verbose=0)
    self.assertFalse(os.path.exists(work))

  def test_defaults_follow_the_performer_start(self):
    from tf_explainer import demo

    def of(**settings):
      s = demo.resolved(config_lib.build(demo.DemoSettings, settings))
      performer = s.performer  # the performer program's own settings, nested
      return (
        performer.weights,
        performer.epochs,
        performer.learning_rate_schedule,
        performer.freeze_through,
      )

    self.assertEqual(of(), ("synthetic", 25, "cosine", None))
    self.assertEqual(of(arch="vgg16"), ("scratch", 35, "constant", None))
    # Fine-tuning trains every layer unless told (a frozen VGG-16 was no better on validation).
    self.assertEqual(
      of(arch="vgg16", performer_weights="synthetic"), ("synthetic", 25, "cosine", None)
    )
    self.assertEqual(
      of(arch="vgg16", performer_weights="synthetic", performer_freeze_through="none")[3], None
    )
    self.assertEqual(of(performer_freeze_through="conv1")[3], "conv1")

  def test_the_performer_settings_are_the_performer_programs(self):
    from tf_explainer import configs, demo

    s = config_lib.build(demo.DemoSettings, {"performer_epochs": 3, "width": 0.5})
    self.assertIsInstance(s.performer, configs.PerformerTraining)
    self.assertIsInstance(s.network, configs.PerformerNetwork)
    self.assertEqual((s.performer.epochs, s.network.width, s.network.image_size), (3, 0.5, 131))
    names = config_lib.leaf_names(demo.DemoSettings)
    self.assertIn("performer_learning_rate_schedule", names)
    self.assertNotIn("performer_batch_size", names)  # only the settings the demo offers
    with self.assertRaisesRegex(ValueError, r"^performer_epochs=0: expected at least 1\.$"):
      config_lib.build(demo.DemoSettings, {"performer_epochs": 0})


@pytest.mark.large
class DemoTest(tf.test.TestCase):
  def test_tiny_demo_from_the_command_line(self):
    work = os.path.join(tempfile.mkdtemp(), "demo")
    argv = (
      f"--work_dir={work}",
      "--num_images=48",
      "--image_size=115",
      "--width=0.125",
      "--fc_units=16",
      "--performer_weights=scratch",
      "--performer_epochs=1",
      "--explainer_epochs=2",
      "--unlabeled_images=16",
    )
    result = programs.run("-m", "tf_explainer.cli.demo", *argv)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    lines = result.stdout.strip().splitlines()
    self.assertTrue(lines[-2].startswith("Report:"), lines[-3:])
    self.assertTrue(lines[-1].startswith("SavedModel:"), lines[-3:])
    report = lines[-2].split(":", 1)[1].strip()
    saved_model = lines[-1].split(":", 1)[1].strip()
    self.assertTrue(os.path.exists(report))
    with open(os.path.join(work, "explainer", "explainer.json")) as f:
      self.assertEqual(json.load(f)["unlabeled_dir"], os.path.join(work, "unlabeled"))
    for name in ("metrics.json", "receptive_fields.png", "grad_cam.png"):
      self.assertTrue(os.path.exists(os.path.join(os.path.dirname(report), name)), name)
    with open(os.path.join(os.path.dirname(report), "metrics.json")) as f:
      metrics = json.load(f)
    self.assertTrue(0 < metrics["p"] < 1)
    self.assertTrue(all(math.isfinite(v) for v in metrics["error"].values()))
    loaded = tf.saved_model.load(saved_model)
    out = loaded.signatures["serving_default"](images=tf.zeros([2, 115, 115, 3]))
    self.assertEqual(out["part_maps"].shape, (2, 6, 6, 48))
    self.assertEqual(out["fc7"].shape, (2, 16))
    self.assertEqual(out["class_scores"].shape, (2, 6))
    self.assertAllClose(out["class_scores"].numpy().sum(-1), np.ones(2), atol=1e-5)
    # The same command again reuses every finished step; another setting redoes them.
    stamp = os.path.getmtime(os.path.join(work, "explainer", "explainer.keras"))
    again = programs.run("-m", "tf_explainer.cli.demo", *argv)
    self.assertEqual(again.returncode, 0, again.stderr[-3000:])
    reused = [line for line in again.stdout.splitlines() if "reused" in line]
    self.assertLen(reused, 5, again.stdout[-2000:])
    self.assertEqual(os.path.getmtime(os.path.join(work, "explainer", "explainer.keras")), stamp)
    self.assertEqual(again.stdout.strip().splitlines()[-2:], lines[-2:])
