"""The paper harness's tables: means over seeds with their standard deviation."""

import json
import os
import tempfile

import pytest
import tensorflow as tf

from benchmarks import paper_tables
from tests import programs


def _metrics(explainer_li, error, p, performer_error=0.3, top_conv=0.2):
  return {
    "location_instability": {
      "explainer": explainer_li,
      "performer_top_conv": top_conv,
      "performer_target": 0.25,
    },
    "p": p,
    "error": {"performer": performer_error, "explainer": error, "delta": error - performer_error},
  }


def _result(runs, arch="alexnet", **extra):
  """One multi-category experiment's record, as `run_one` writes it."""
  return {
    "arch": arch,
    "task": "multi",
    "category": None,
    "metrics": runs[0],
    "runs": {"explainer": runs},
    **extra,
  }


class TablesTest(tf.test.TestCase):
  def test_mean_and_std_over_seeds(self):
    # Three seeds: LI 0.10, 0.12, 0.14 -> mean 0.12, sample std 0.02; ratio to 0.2: 0.6 +- 0.1.
    # Errors 31%, 32%, 33% against the performer's 30%: Delta 2.00% +- 1.00%.
    runs = [_metrics(0.10, 0.31, 0.9), _metrics(0.12, 0.32, 0.9), _metrics(0.14, 0.33, 0.9)]
    result = _result(runs, explainer_cls_error=0.35)
    text = paper_tables.tables([result], ["alexnet"], ["bird"])
    self.assertIn("| Explainer | n/a | n/a | 0.120 ± 0.020 |", text)
    self.assertIn("| Explainer / top conv | n/a | n/a | 0.600 ± 0.100 |", text)
    self.assertIn("| AlexNet, Explainer | n/a | 0.900 ± 0.000 |", text)
    self.assertIn("| AlexNet | 30.00% | 32.00% ± 1.00% | 2.00% ± 1.00% | 35.00% | 5.00% |", text)

  def test_performer_rows_spread_only_when_it_varies(self):
    # One performer per seed: errors 30% and 32% -> 31.00% +- 1.41%; explainer 32% and 33%,
    # each against its own performer: Delta 2% and 1% -> 1.50% +- 0.71%.
    runs = [_metrics(0.1, 0.32, 0.9, 0.30, 0.20), _metrics(0.1, 0.33, 0.9, 0.32, 0.25)]
    result = _result(runs, vary_performer=True)
    text = paper_tables.tables([result], ["alexnet"], ["bird"])
    self.assertIn("| AlexNet | 31.00% ± 1.41% | 32.50% ± 0.71% | 1.50% ± 0.71% | n/a | n/a |", text)
    self.assertIn("| AlexNet (top conv layer) | n/a | n/a | 0.225 ± 0.035 |", text)
    result["vary_performer"] = False
    text = paper_tables.tables([result], ["alexnet"], ["bird"])
    self.assertIn("| AlexNet (top conv layer) | n/a | n/a | 0.200 |", text)

  def test_performers_a_teacher_labelled_for_are_said_so(self):
    result = _result([_metrics(0.1, 0.31, 0.8)])
    self.assertNotIn("labelled by", paper_tables.tables([result], ["alexnet"], ["bird"]))
    result["performer_teacher"] = "vgg16"
    self.assertIn(
      "AlexNet's performers also trained on the unlabeled images, labelled by the VGG-16 "
      "performer of the same experiment and seed (no true label of them read).",
      paper_tables.tables([result], ["alexnet"], ["bird"]),
    )

  def test_one_seed_has_no_spread(self):
    result = _result([_metrics(0.1, 0.31, 0.8)], arch="vgg16")
    text = paper_tables.tables([result], ["vgg16"], ["bird"])
    self.assertIn("| Explainer | n/a | n/a | 0.100 |", text)


@pytest.mark.large
class DrawnValidationTest(tf.test.TestCase):
  def harness(self, work, *args):
    return programs.run(
      "-m",
      "benchmarks.paper_tables",
      f"--work_dir={work}",
      "--archs=alexnet",
      "--protocols=multi",
      "--num_images=60",
      "--performer_epochs=1",
      "--explainer_epochs=1",
      "--width=0.125",
      "--fc_units=16",
      "--unlabeled_images=0",
      "--explainer_cls=false",
      "--performance=false",
      *args,
    )

  def test_drawn_validation_images_are_measured_and_training_keeps_every_image(self):
    work = tempfile.mkdtemp()
    result = self.harness(work, "--split=validation", "--validation_images=20")
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn("re-measures these very performers", result.stdout)
    with open(os.path.join(work, "alexnet-multi", "result.json")) as f:
      record = json.load(f)
    self.assertEqual((record["split"], record["validation_images"]), ("validation", 20))
    metrics = record["runs"]["explainer"][0]
    self.assertEqual(metrics["num_images"], 20)  # all drawn images, none of the data's
    with open(os.path.join(work, "alexnet-multi", "performer", "performer.json")) as f:
      self.assertEqual(json.load(f)["train_split"], "train")  # as for test
    with open(os.path.join(work, "results.json")) as f:
      settings = json.load(f)["settings"]
    self.assertEqual((settings["validation_images"], settings["validation_seed"]), (20, 100))
    # Flag errors: drawn images only for validation, and never from the data's own seed.
    refused = self.harness(work, "--validation_images=20")
    self.assertNotEqual(refused.returncode, 0)
    self.assertIn("--validation_images applies only to --split=validation", refused.stderr)
    refused = self.harness(
      work, "--split=validation", "--validation_images=20", "--validation_seed=0"
    )
    self.assertNotEqual(refused.returncode, 0)
    self.assertIn("--validation_seed may not be 0", refused.stderr)

  def test_a_teacher_labels_the_unlabeled_images_of_the_other_performers(self):
    work = tempfile.mkdtemp()
    result = self.harness(work, "--performer_teacher=vgg16", "--unlabeled_images=12")
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    # The teacher's performer is trained first, as its own experiment would be.
    teacher = os.path.join(work, "vgg16-multi", "performer")
    self.assertTrue(os.path.exists(os.path.join(teacher, "performer.keras")))
    self.assertFalse(os.path.exists(os.path.join(work, "vgg16-multi", "result.json")))
    with open(os.path.join(work, "alexnet-multi", "performer", "run_settings.json")) as f:
      trained = json.load(f)
    self.assertEqual(trained["teacher_dir"], os.path.abspath(teacher))
    self.assertEqual(trained["unlabeled_dir"], os.path.abspath(os.path.join(work, "unlabeled")))
    with open(os.path.join(work, "alexnet-multi", "result.json")) as f:
      record = json.load(f)
    self.assertEqual(record["performer_teacher"], "vgg16")
    self.assertEqual(sorted(record["runs"]), ["explainer", "explainer_unlabeled"])
    with open(os.path.join(work, "results.json")) as f:
      self.assertEqual(json.load(f)["settings"]["performer_teacher"], "vgg16")
    # A finished experiment is reused only under the flags it was made with.
    refused = self.harness(work, "--unlabeled_images=12")
    self.assertNotEqual(refused.returncode, 0)
    self.assertIn(
      "finished under other settings: --performer_teacher=vgg16 (now None); rerun with those, "
      "or give another --work_dir.",
      refused.stderr,
    )
    self.assertNotIn("Traceback", refused.stderr)
    refused = self.harness(tempfile.mkdtemp(), "--performer_teacher=vgg16")
    self.assertNotEqual(refused.returncode, 0)
    self.assertIn("expected --unlabeled_images > 0", refused.stderr)


if __name__ == "__main__":
  tf.test.main()
