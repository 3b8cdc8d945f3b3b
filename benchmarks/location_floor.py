"""What location instability ideal filters would get on a dataset, for scale.

Next to the explainer's and the performer's values it prints those of filters
whose strongest unit is placed by hand:

* `landmark_<part>`: the unit nearest landmark `<part>` on the target layer's
  grid (a perfect detector of that part, up to the grid's resolution), and the
  same without the grid (`exact`);
* `centre`: always the image centre (a filter that fires on the middle of
  every crop).

It also reports how scattered the explainer's peaks are: per filter, the
fraction of images whose peak falls on the filter's most frequent unit.

    python -m benchmarks.location_floor --explainer_dir=runs/demo/explainer \
        --dataset_dir=runs/demo/data
"""

import collections

from absl import app, flags

from benchmarks import common

_EXPLAINER_DIR = flags.DEFINE_string("explainer_dir", None, "Trained explainer.", required=True)
_DATASET_DIR = flags.DEFINE_string("dataset_dir", None, "Its dataset.", required=True)
_OUT_DIR = flags.DEFINE_string("out_dir", "benchmarks/results", "Where the JSON goes.")

_DETERMINISTIC = common.define_deterministic_flag(False)


def main(_):
  import numpy as np
  from tf_explainer import reproducibility

  reproducibility.configure(0, _DETERMINISTIC.value)
  from tf_explainer import data as data_lib
  from tf_explainer import evaluation
  from tf_explainer import metrics as metrics_lib
  from tf_explainer.models import io as model_io

  explainer, model, spec, _ = model_io.load_explainer(_EXPLAINER_DIR.value)
  dataset = data_lib.read_part_dataset(_DATASET_DIR.value)
  subset = data_lib.select(dataset, "test")
  labels = data_lib.task_labels(subset.labels, spec.task, spec.target_class)
  collected = evaluation.collect(explainer, model, spec, subset, labels)
  measured, _, _ = evaluation.instabilities(collected, spec)
  mapping = metrics_lib.unit_mapping(model, spec.target_layer)
  size = model.get_layer(spec.target_layer).output.shape[1]
  rows = evaluation.target_rows(labels, spec)
  landmarks = collected.landmarks[rows]
  shape = (spec.image_size, spec.image_size)
  categories = None if spec.task == "single" else labels[rows]

  def instability(peaks):
    """Of one hand-placed filter, averaged over the categories it could belong to."""
    scores = np.ones((len(peaks), 1))
    if categories is None:
      return metrics_lib.location_instability(peaks[:, None], scores, landmarks, shape)
    return float(
      np.nanmean(
        [
          metrics_lib.location_instability(
            peaks[:, None],
            scores,
            landmarks,
            shape,
            image_categories=categories,
            filter_categories=np.array([c]),
          )
          for c in np.unique(categories)
        ]
      )
    )

  reference = {}
  for k, name in enumerate(dataset.part_names):
    target = landmarks[:, k]
    target = np.where(np.isfinite(target), target, np.nanmean(target, axis=0))
    reference[f"landmark_{name}"] = instability(mapping.to_pixels(mapping.to_units(target, size)))
    reference[f"landmark_{name}_exact"] = instability(target)
  reference["centre"] = instability(np.full((len(landmarks), 2), spec.image_size / 2.0))

  peaks = collected.peaks["explainer"][rows]
  modal = [
    collections.Counter(map(tuple, peaks[:, f])).most_common(1)[0][1] / len(peaks)
    for f in range(peaks.shape[1])
  ]
  result = {
    "explainer_dir": _EXPLAINER_DIR.value,
    "task": spec.task,
    "grid": size,
    "measured": measured,
    "reference": reference,
    "explainer_modal_unit_fraction_median": float(np.median(modal)),
  }
  shown = lambda value: "n/a" if value is None else f"{value:.4f}"  # noqa: E731
  for key, value in measured.items():
    print(f"{key}: {shown(value)}")
  for key, value in reference.items():
    print(f"ideal filter {key}: {shown(value)}")
  print(
    f"explainer filters: median fraction of images at their most frequent unit "
    f"{result['explainer_modal_unit_fraction_median']:.3f}"
  )
  common.write("location_floor", result, out_dir=_OUT_DIR.value)


if __name__ == "__main__":
  app.run(main)
