"""Tests for benchmarks.filter_parts_lib: where a performer's last fc layer reads its top conv,
and parts taken together."""

import numpy as np
import tensorflow as tf

from benchmarks import filter_parts_lib
from tests import tiny_run
from tf_explainer import data as data_lib, evaluation, performers
from tf_explainer.models import io as model_io


class FcReadsTest(tf.test.TestCase):
  def test_saliency_is_where_fc6_reads(self):
    """fc6 reading only pool5's first cell: nothing outside the conv units pooled into it."""
    # An untrained VGG-16 at 1/8 width, 96 px: block5_conv3 6 x 6 x 64, pool5 3 x 3 x 64.
    model, spec = performers.build_performer("vgg16", 2, image_size=96, width=0.125, fc_units=8)
    fc6, fc7 = model.get_layer("fc6"), model.get_layer("fc7")
    kernel = fc6.kernel.numpy()
    kernel[64:] = 0.0  # flatten order (row, col, channel): rows 0-63 are cell (0, 0)
    fc6.kernel.assign(kernel)
    fc6.bias.assign(np.ones_like(fc6.bias.numpy()))  # every relu6 and relu7 unit alive
    fc7.bias.assign(np.ones_like(fc7.bias.numpy()))
    images = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    saliency = filter_parts_lib.fc_saliency(model, spec)(images).numpy()
    self.assertEqual(saliency.shape, (2, 6, 6))
    outside = saliency.copy()
    outside[:, :2, :2] = 0.0
    self.assertAllEqual(outside, np.zeros_like(outside))
    self.assertTrue(np.all(saliency[:, :2, :2].sum((1, 2)) > 0))

  def test_reads_against_counts(self):
    """Two performers whose explainers follow their reads exactly, each the reverse of the
    other: rho 1 for their own, -1 for the other's."""
    reads = [{"eye": 0.3, "nose": 0.2, "mouth": 0.1}, {"eye": 0.1, "nose": 0.2, "mouth": 0.3}]
    counts = [{"eye": 90, "nose": 40, "mouth": 5}, {"eye": 1, "nose": 30, "mouth": 70}]
    summary = filter_parts_lib.reads_against_counts(reads, counts)
    self.assertEqual(summary["performers"], 2)
    self.assertAllClose([summary["spearman"], summary["largest_part_matches"]], [1.0, 1.0])
    self.assertAllClose(
      [summary["control_spearman"], summary["control_largest_part_matches"]], [-1.0, 0.0]
    )

  def test_grouped_landmarks(self):
    """Eyes as one part in the first eye's place, with both places; the others as they were."""
    names = ["right eye", "left eye", "brows", "nose"]
    landmarks = np.arange(2 * 4 * 2, dtype=float).reshape(2, 4, 2)
    grouped, out = filter_parts_lib.grouped_landmarks(
      landmarks, names, {"eyes": ["right eye", "left eye"]}
    )
    self.assertEqual(out, ["eyes", "brows", "nose"])
    self.assertEqual(grouped.shape, (2, 3, 2, 2))
    self.assertAllEqual(grouped[:, 0], landmarks[:, :2])
    self.assertAllEqual(grouped[:, 1:, 0], landmarks[:, 2:])
    self.assertTrue(np.isnan(grouped[:, 1:, 1]).all())
    with self.assertRaisesRegex(ValueError, r"no part named \['mouth'\]"):
      filter_parts_lib.grouped_landmarks(landmarks, names, {"x": ["nose", "mouth"]})
    with self.assertRaisesRegex(ValueError, "more than one group"):
      filter_parts_lib.grouped_landmarks(landmarks, names, {"x": ["nose"], "y": ["nose"]})

  def test_grouped_tracking(self):
    """Its `tracking` is metrics.json's; a group of one part, counted anew, renames that part
    and changes nothing else."""
    paths = tiny_run.paths()
    explainer, model, spec, _ = model_io.load_explainer(paths["explainer"])
    dataset = data_lib.read_part_dataset(paths["data"])
    result, collected, _ = evaluation.evaluate(explainer, model, spec, dataset, "train")
    names = [str(n) for n in dataset.part_names]
    tracking = result["part_tracking"]["explainer"]
    out = filter_parts_lib.grouped_tracking(collected, spec, names, {"first": [names[0]]}, tracking)
    tracking, grouped = out["tracking"], out["grouped_tracking"]
    self.assertEqual(
      {k: v for k, v in tracking.items() if k != "parts_10pct"},
      result["part_tracking"]["explainer"],
    )
    self.assertEqual(list(grouped["per_part"]), ["first"] + names[1:])
    self.assertEqual(list(grouped["per_part"].values()), list(tracking["per_part"].values()))
    self.assertEqual(grouped["parts_10pct"], tracking["parts_10pct"])

  def test_reads_are_counted_per_part(self):
    paths = tiny_run.paths()
    model, spec = model_io.load_performer(paths["performer"])
    dataset = data_lib.read_part_dataset(paths["data"])
    subset = data_lib.select(dataset, "train")
    reads = filter_parts_lib.fc_reads(model, spec, subset)
    names = [str(n) for n in subset.part_names]
    self.assertEqual(list(reads["share_at_part"]), names)
    self.assertEqual(reads["layer"], spec.fc_layers[-1])
    labels = data_lib.task_labels(subset.labels, spec.task, spec.target_class)
    rows = labels == 1 if spec.task == "single" else np.ones(len(labels), bool)
    with_parts = np.isfinite(subset.landmarks).all(-1).any(-1)
    self.assertEqual(reads["images"], int(np.sum(rows & with_parts)))
    self.assertEqual(sum(reads["strongest_nearest"].values()), reads["images"])
    shares = np.array(list(reads["share_at_part"].values()))
    self.assertTrue(np.all((shares >= 0) & (shares <= 1)), shares)
