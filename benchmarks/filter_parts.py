"""Where filters fire before any explainer training: the part nearest each filter's peaks.

For a performer, counts the filters nearest each landmark, and their mean
instability (px) by part, (as `metrics.json`'s
`filters_per_part` does for the explainer) for the performer's target and top
conv layers and for untrained explainers built on it (second interpretable
conv random, as in the paper, or the identity), and optionally for trained
explainers. Measured on the validation split. Writes
`benchmarks/results/filter_parts.json`:

    python -m benchmarks.filter_parts --work_dir=runs/ablations \\
        --performers=alexnet/performer,alexnet-synthetic/performer \\
        --explainers=alexnet/default-seed0/explainer,alexnet-synthetic/identity_init-seed0/explainer

With `--fc_reads`, it measures instead where each performer's last fc layer reads
its top conv map (`fc_reads`): the parts an explainer that reconstructs that layer
has to describe; `--counts_from=VARIANT` compares them with the per-part counts of
each performer's explainer of that `benchmarks.real_photos` variant.

With `--groups`, each explainer's part tracking is counted twice: as `metrics.json` counts
it, and with some parts taken as one that may sit at any of their places (a filter that
lands on whichever eye is nearer to it follows "an eye", and tracks neither eye alone):

    python -m benchmarks.filter_parts --work_dir=runs/faces/val --split=train_without_validation \\
        --performers= --explainers=imagenet-s0/filter_x10/explainer \\
        --groups='{"eyes": ["right eye", "left eye"]}'
"""

import json
import os

from absl import app, flags

from benchmarks import common, filter_parts_lib

_WORK_DIR = flags.DEFINE_string("work_dir", "runs/ablations", "The ablation study's folder.")
_PERFORMERS = flags.DEFINE_list(
  "performers", ["alexnet/performer"], "Performer folders, relative to --work_dir."
)
_EXPLAINERS = flags.DEFINE_list(
  "explainers", [], "Trained explainer folders, relative to --work_dir."
)
_SPLIT = flags.DEFINE_string("split", "validation", "Images to measure on.")
_NAME = flags.DEFINE_string(
  "name", "filter_parts", "The results file, benchmarks/results/NAME.json."
)
_FC_READS = flags.DEFINE_boolean(
  "fc_reads",
  False,
  "Measure only where each performer's last fc layer reads the top conv map (fc_reads); "
  "skips the untrained explainers.",
)
_COUNTS_FROM = flags.DEFINE_string(
  "counts_from",
  None,
  "With --fc_reads: the explainer variant of benchmarks.real_photos whose per-part counts "
  "(<seed folder>/VARIANT/record.json, beside each performer) are compared with the reads.",
)
_GROUPS = flags.DEFINE_string(
  "groups",
  None,
  'With --explainers: JSON {"name": [parts]}, parts taken as one that may sit at any of '
  'them (e.g. {"eyes": ["right eye", "left eye"]}); adds the explainers\' part tracking '
  "so counted (grouped_tracking) beside the metric's own (tracking).",
)
_DETERMINISTIC = common.define_deterministic_flag(True)


def counts(collected, dataset, layers):
  import numpy as np
  from tf_explainer import metrics as metrics_lib

  names = [str(n) for n in dataset.part_names]
  result = {}
  for layer in layers:
    d = metrics_lib.filter_landmark_distances(
      collected.peaks[layer], collected.scores[layer], collected.landmarks, 100
    )
    d = np.where(np.isnan(d), np.inf, d)
    alive = np.isfinite(d).any(1)
    near = np.argmin(d, 1)
    # Each filter's instability (px, the metric's per-filter figure), averaged by part.
    instability = metrics_lib.filter_instabilities(
      collected.peaks[layer], collected.scores[layer], collected.landmarks, 100
    )
    by_part = {}
    for k, n in enumerate(names):
      rows = (near == k) & alive & np.isfinite(instability)
      by_part[n] = float(np.mean(instability[rows])) if rows.any() else None
    result[layer] = {
      "filters_per_part": {n: int(np.sum((near == k) & alive)) for k, n in enumerate(names)},
      "median_distance_px": float(np.median(d[alive].min(1))),
      "instability_px_per_part": by_part,
    }
  return result


def ratio(result):
  li = result["location_instability"]
  return li["explainer"] / li["performer_top_conv"]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from tf_explainer import data as data_lib
  from tf_explainer import evaluation
  from tf_explainer.models import io as model_io
  from tf_explainer import reproducibility
  from tf_explainer.train import explainer_lib

  try:
    groups = json.loads(_GROUPS.value) if _GROUPS.value else None
  except json.JSONDecodeError as e:
    raise app.UsageError(f"--groups: not JSON ({e}).") from None
  if groups is not None and not (
    isinstance(groups, dict) and all(isinstance(v, list) for v in groups.values())
  ):
    raise app.UsageError(f'--groups: expected JSON {{"name": [parts]}}, got {_GROUPS.value}.')
  reproducibility.configure(0, _DETERMINISTIC.value)
  dataset = data_lib.read_part_dataset(os.path.join(_WORK_DIR.value, "data"))
  if groups:
    try:
      filter_parts_lib.grouped_landmarks(
        dataset.landmarks[:1], [str(n) for n in dataset.part_names], groups
      )
    except ValueError as e:
      raise app.UsageError(f"--{e}") from None
  subset = data_lib.select(dataset, _SPLIT.value)
  records = []
  for name in _PERFORMERS.value:
    model, spec = model_io.load_performer(os.path.join(_WORK_DIR.value, name))
    if _FC_READS.value:
      record = {"performer": name}
      if _COUNTS_FROM.value:
        seed_dir = os.path.dirname(os.path.join(_WORK_DIR.value, name))
        path = os.path.join(seed_dir, _COUNTS_FROM.value, "record.json")
        if not os.path.exists(path):
          raise app.UsageError(f"--counts_from={_COUNTS_FROM.value}: no {path}.")
        with open(path) as f:
          tracking = json.load(f)["metrics"]["part_tracking"]["explainer"]
        record["explainer_per_part"] = tracking["per_part"]
      record["fc_reads"] = filter_parts_lib.fc_reads(model, spec, subset)
      records.append(record)
      print(record, flush=True)
      continue
    for init in ("random", "identity"):
      explainer = explainer_lib.build_for_performer(model, spec, interp_init=init)
      result, collected, _ = evaluation.evaluate(explainer, model, spec, dataset, _SPLIT.value)
      layers = ("explainer", "performer_top_conv", "performer_target")
      records.append(
        {
          "performer": name,
          "untrained_explainer": f"interp_init={init}",
          "ratio": ratio(result),
          **counts(collected, dataset, layers),
        }
      )
      print(records[-1], flush=True)
  for name in _EXPLAINERS.value:
    explainer, model, spec, _ = model_io.load_explainer(os.path.join(_WORK_DIR.value, name))
    result, collected, _ = evaluation.evaluate(explainer, model, spec, dataset, _SPLIT.value)
    records.append(
      {"explainer_dir": name, "ratio": ratio(result), **counts(collected, dataset, ("explainer",))}
    )
    if groups:
      names = [str(n) for n in dataset.part_names]
      tracking = result["part_tracking"]["explainer"]
      records[-1].update(
        filter_parts_lib.grouped_tracking(collected, spec, names, groups, tracking)
      )
    print(records[-1], flush=True)
  if _FC_READS.value and _COUNTS_FROM.value and records:
    summary = filter_parts_lib.reads_against_counts(
      [r["fc_reads"]["share_at_part"] for r in records],
      [r["explainer_per_part"] for r in records],
    )
    print(summary)
    records = {"performers": records, "reads_against_counts": summary}
  common.write(_NAME.value, records)


if __name__ == "__main__":
  app.run(main)
