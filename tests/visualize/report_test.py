"""Tests for tf_explainer.visualize.report: the summary tells the truth first."""

import tensorflow as tf

from tf_explainer.visualize import report


def _metrics(**changes):
  """The metrics of a collapsed explainer, like the demo's: 94 of 96 filters on the torso."""
  metrics = {
    "arch": "alexnet",
    "performer_weights": "synthetic",
    "protocol": "multi",
    "num_images": 360,
    "top_n": 100,
    "location_instability": {
      "explainer": 0.08,
      "performer_top_conv": 0.135,
      "performer_target": 0.14,
    },
    "central_peak_share": {"explainer": 0.125, "performer_top_conv": 0.040},
    "filters_per_part": {"head": 1, "torso": 94, "tail": 1},
    "p": 0.998,
    "error": {"performer": 0.151, "explainer": 0.224, "delta": 0.073},
  }
  metrics.update(changes)
  return metrics


class ReportTest(tf.test.TestCase):
  def test_collapsed_explainer_warned_before_the_tables(self):
    text = report.markdown(_metrics(), [])
    summary = text[: text.index("## Location instability")]
    self.assertIn(
      "collapsed onto one part: 94 of 96 interpretable filters peak nearest the torso", summary
    )
    self.assertIn("crop centre 12.5% of the time, against 4.0%", summary)
    self.assertIn("p = 0.998", summary)
    self.assertIn("7.3 points above the performer's", summary)

  def test_healthy_explainer_has_no_warnings(self):
    metrics = _metrics(
      filters_per_part={"head": 30, "torso": 40, "tail": 26},
      central_peak_share={"explainer": 0.05, "performer_top_conv": 0.04},
      p=0.7,
      error={"performer": 0.10, "explainer": 0.11, "delta": 0.01},
    )
    self.assertNotIn("Warnings", report.markdown(metrics, []))

  def test_part_tracking_table_and_control(self):
    tracked = {
      "filters": 10,
      "tracking": 4,
      "share": 0.4,
      "per_part": {"nose": 3, "mouth": 1},
      "patterns": 1,
      "tracking_patterns": 1,
      "thresholds": {"radius": 0.125, "min_firing": 0.5, "min_rate": 0.5, "min_margin": 0.2},
    }
    fixed = dict(tracked, tracking=0, location_instability=0.05)
    text = report.markdown(
      _metrics(
        part_tracking={
          "explainer": tracked,
          "performer_top_conv": tracked,
          "performer_target": tracked,
          "fixed_point": fixed,
        }
      ),
      [],
    )
    self.assertIn("| Explainer | 4 of 10 (40.00%) | nose 3, mouth 1 | 1 of 1 |", text)
    self.assertIn("a point fixed at the mean landmark has location instability 0.0500", text)
    self.assertIn("fire in only 1 distinct peak pattern(s)", text)
    self.assertNotIn("exactly on one part", text)  # metrics saved before the control
    tracking = {"explainer": tracked, "performer_top_conv": tracked, "performer_target": tracked}
    tracking.update(fixed_point=fixed, perfect_tracker={"location_instability": 0.02})
    text = report.markdown(_metrics(part_tracking=tracking), [])
    self.assertIn("A filter exactly on one part on every image would have 0.0200", text)


if __name__ == "__main__":
  tf.test.main()
