"""How well one filter on the explainer's target layer can follow a part, with labels and
without, next to what the explainer reaches (`part_ceiling_lib` says what each row is).

For each performer: the filters train on the target-class images of `--train_split` (each
with `--warps` zoomed-in crops) and are measured on `--split`, beside the grid's floor and,
with `--explainers`, the explainer of each performer on the same images. Writes
`benchmarks/results/NAME.json`:

    python -m benchmarks.part_ceiling --work_dir=runs/faces/val \\
        --performers=imagenet-s0/performer,imagenet-s1/performer,imagenet-s2/performer \\
        --explainers=filter_x10
"""

import os

import numpy as np
from absl import app, flags

from benchmarks import common, part_ceiling_lib

_WORK_DIR = flags.DEFINE_string("work_dir", "runs/faces/val", "The real-photo runs' folder.")
_PERFORMERS = flags.DEFINE_list(
  "performers", ["imagenet-s0/performer"], "Performer folders, relative to --work_dir."
)
_EXPLAINERS = flags.DEFINE_string(
  "explainers",
  None,
  "A benchmarks.real_photos variant: its explainer beside each performer "
  "(<seed folder>/VARIANT/explainer) is measured on the same images.",
)
_SPLIT = flags.DEFINE_string("split", "validation", "Images to measure on.")
_TRAIN_SPLIT = flags.DEFINE_string(
  "train_split", "train_without_validation", "Images the filters train on."
)
_FILTERS = flags.DEFINE_integer("filters", 16, "Label-free (equivariant) filters.")
_STEPS = flags.DEFINE_integer("steps", 3000, "Their training steps (batches of 32).")
_WARPS = flags.DEFINE_integer("warps", 2, "Zoomed-in crops of each training image.")
_TOP_CONV_STEPS = flags.DEFINE_integer(
  "top_conv_steps",
  0,
  "If > 0, also train one label-free filter per channel of the performer's top conv, started "
  "from its weights, for this many steps (and measure that start untrained).",
)
_NAME = flags.DEFINE_string(
  "name", "part_ceiling", "The results file, benchmarks/results/NAME.json."
)
_DETERMINISTIC = common.define_deterministic_flag(True)


def measure_performer(dataset, model, spec, explainer=None, seed=0):
  """Every row of the table for one performer (and its explainer)."""
  from tf_explainer import data as data_lib
  from tf_explainer import evaluation, metrics as metrics_lib

  lib = part_ceiling_lib
  names = [str(n) for n in dataset.part_names]
  size = spec.image_size
  mapping = metrics_lib.unit_mapping(model, spec.target_layer)
  train_images = data_lib.select(dataset, _TRAIN_SPLIT.value)
  train = lib.target_maps(model, spec, train_images, _WARPS.value, seed)
  held_images = data_lib.select(dataset, _SPLIT.value)
  held = lib.target_maps(model, spec, held_images)
  maps, landmarks = held["maps"], held["landmarks"]
  rows = {"grid_floor": lib.grid_floor(landmarks, mapping, maps.shape[1], size, names)}
  supervised = lib.supervised_filters(train, mapping, seed=seed)
  rows["supervised"] = lib.measure(supervised(maps), landmarks, mapping, size, names)
  for label, steps in (("equivariant", _STEPS.value), ("untrained", 0)):
    filters, loss = lib.equivariant_filters(
      train, mapping, size, filters=_FILTERS.value, steps=steps, seed=seed
    )
    rows[label] = dict(lib.measure(filters(maps), landmarks, mapping, size, names), last_loss=loss)
  if _TOP_CONV_STEPS.value > 0:
    start = model.get_layer(spec.top_conv_layer).get_weights()
    for label, steps in (
      ("equivariant_from_top_conv", _TOP_CONV_STEPS.value),
      ("top_conv_start", 0),
    ):
      filters, loss = lib.equivariant_filters(
        train, mapping, size, steps=steps, seed=seed, start=start
      )
      rows[label] = dict(
        lib.measure(filters(maps), landmarks, mapping, size, names), last_loss=loss
      )
  if explainer is not None:  # its peaks only: not the whole evaluation
    labels = data_lib.task_labels(held_images.labels, spec.task, spec.target_class)
    collected = evaluation.collect(explainer, model, spec, held_images, labels)
    target = evaluation.target_rows(labels, spec)
    rows["explainer"] = lib.measure_peaks(
      collected.peaks["explainer"][target],
      collected.scores["explainer"][target],
      collected.landmarks[target],
      size,
      names,
    )
    top_conv = evaluation.instabilities(collected, spec)[0]["performer_top_conv"]
    rows["explainer"]["top_conv"] = top_conv
  return rows


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from tf_explainer import data as data_lib
  from tf_explainer import reproducibility
  from tf_explainer.models import io as model_io

  reproducibility.configure(0, _DETERMINISTIC.value)
  dataset = data_lib.read_part_dataset(os.path.join(_WORK_DIR.value, "data"))
  records = []
  for name in _PERFORMERS.value:
    explainer = None
    if _EXPLAINERS.value:
      seed_dir = os.path.dirname(os.path.join(_WORK_DIR.value, name))
      path = os.path.join(seed_dir, _EXPLAINERS.value, "explainer")
      if not os.path.isdir(path):
        raise app.UsageError(f"--explainers={_EXPLAINERS.value}: no {path}.")
      explainer, model, spec, _ = model_io.load_explainer(path)
    else:
      model, spec = model_io.load_performer(os.path.join(_WORK_DIR.value, name))
    records.append({"performer": name, **measure_performer(dataset, model, spec, explainer)})
    shown = ("location_instability", "tracking", "per_part")
    print({row: {k: v[k] for k in shown} for row, v in records[-1].items() if row != "performer"})
  summary = {
    row: {
      "location_instability": float(np.mean([r[row]["location_instability"] for r in records])),
      "tracking": float(np.mean([r[row]["tracking"] for r in records])),
    }
    for row in records[0]
    if row != "performer"
  }
  print(summary)
  common.write(_NAME.value, {"split": _SPLIT.value, "summary": summary, "performers": records})


if __name__ == "__main__":
  app.run(main)
