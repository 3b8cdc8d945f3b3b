"""The paper's experiments at CPU scale on the embedded synthetic data.

For each architecture: single-category performers (each chosen category
against the rest) and one multi-category performer; for each performer, per
seed, an explainer distilled on the training split and one distilled on the
training split plus `--unlabeled_images` images no label was read from, and
one Explainer+cls baseline per seed; then the paper's measures. With
`--performer_teacher=vgg16` the other architectures' performers also train on the
unlabeled images, labelled by the VGG-16 performer of the same seed. Writes
`results.json` and `tables.md` (the layout of the paper's Tables 1-3) in
`--work_dir`, and the performance ratios measured in the same run.

    python -m benchmarks.paper_tables --work_dir=runs/paper --archs=alexnet,vgg16
"""

import json
import os
import statistics
import time

from absl import flags

from benchmarks import common
from tf_explainer import cli

IMAGE_SIZE = {"alexnet": 131, "vgg_m": 131, "vgg_s": 131, "vgg16": 112}
NAMES = {"alexnet": "AlexNet", "vgg_m": "VGG-M", "vgg_s": "VGG-S", "vgg16": "VGG-16"}

_WORK_DIR = flags.DEFINE_string("work_dir", "runs/paper", "Output folder.")
_ARCHS = flags.DEFINE_list("archs", ["alexnet", "vgg16"], "Performer architectures.")
_CATEGORIES = flags.DEFINE_list(
  "categories",
  ["bird", "cat", "cow", "dog", "horse", "sheep"],
  "Categories of the single-category experiment.",
)
_PROTOCOLS = flags.DEFINE_list("protocols", ["single", "multi"], "Experiments to run.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 1200, "Synthetic images.")
_PERFORMER_EPOCHS = flags.DEFINE_integer("performer_epochs", 25, "Performer epochs.")
_EXPLAINER_EPOCHS = flags.DEFINE_integer("explainer_epochs", 40, "Explainer epochs.")
_PERFORMER_WEIGHTS = common.define_performer_flags()[0]
_WIDTH = flags.DEFINE_float("width", 0.25, "Performer width multiplier.")
_FC_UNITS = flags.DEFINE_integer("fc_units", 256, "Performer fc width.")
_CLS = flags.DEFINE_boolean("explainer_cls", True, "Also train the Explainer+cls baseline.")
_UNLABELED = flags.DEFINE_integer(
  "unlabeled_images",
  2100,
  "Extra unlabeled synthetic images "
  "(another seed) for a second explainer per experiment, "
  "distilled on the training split plus these, and for --performer_teacher (0: none).",
)
_SEEDS = flags.DEFINE_list(
  "seeds",
  ["0"],
  "Explainer seeds per experiment; the tables give "
  "mean ± std (the performer and Explainer+cls use the first, unless "
  "--vary_performer).",
)
_VARY_PERFORMER = flags.DEFINE_boolean(
  "vary_performer",
  False,
  "Train one performer per seed "
  "(seeded with it) instead of one for all seeds, so that "
  "the spread covers the whole pipeline.",
)
_PERFORMANCE = flags.DEFINE_boolean("performance", True, "Also measure the performance ratios.")
_SPLIT = flags.DEFINE_enum(
  "split",
  "test",
  ["validation", "test"],
  "validation: performers and "
  "explainers train on the training split less the validation split "
  "and are measured on the validation split, for choosing settings; "
  "test: train on the whole training split, measure on test (the "
  "final tables only).",
)
_VALIDATION_IMAGES = flags.DEFINE_integer(
  "validation_images",
  0,
  "With --split=validation: 0 carves the validation split from the training images (the "
  "performers and explainers train on the rest); N > 0 draws N new images from another "
  "generator seed (--validation_seed) as the validation set instead, and they train on the "
  "whole training split, as for test.",
  lower_bound=0,
)
_VALIDATION_SEED = flags.DEFINE_integer(
  "validation_seed", 100, "Generator seed of the --validation_images (the data's is 0)."
)
flags.register_multi_flags_validator(
  ["validation_images", "split"],
  lambda v: not v["validation_images"] or v["split"] == "validation",
  "--validation_images applies only to --split=validation.",
)
flags.register_validator(
  "validation_seed",
  lambda seed: seed not in (0, 1),
  "--validation_seed may not be 0 (the data's seed) or 1 (the unlabeled images').",
)
_TEACHER = flags.DEFINE_enum(
  "performer_teacher",
  None,
  list(IMAGE_SIZE),
  "Performers of the other architectures also train on the --unlabeled_images, each "
  "labelled by this architecture's performer of the same experiment and seed (trained first "
  "where missing); no label of those images is read. Default: the training split only.",
)
flags.register_multi_flags_validator(
  ["performer_teacher", "unlabeled_images"],
  lambda v: not v["performer_teacher"] or v["unlabeled_images"] > 0,
  "--performer_teacher labels the --unlabeled_images: expected --unlabeled_images > 0.",
)
_DETERMINISTIC = common.define_deterministic_flag(True)
_TABLES_ONLY = flags.DEFINE_boolean(
  "tables_only",
  False,
  "Run no experiment: tables from the finished ones in --work_dir (missing cells read n/a).",
)


# The flags an experiment's figures depend on: recorded with it, and a finished one is
# reused only under the same values.
EXPERIMENT_FLAGS = (
  "num_images",
  "performer_epochs",
  "explainer_epochs",
  "width",
  "fc_units",
  "explainer_cls",
  "unlabeled_images",
  "seeds",
  "vary_performer",
  "split",
  "validation_images",
  "validation_seed",
  "deterministic",
  "performer_weights",
  "performer_teacher",
  *common.RECIPE_FLAGS,
  "performer_synthetic_dir",
)


def experiment_settings():
  return {name: flags.FLAGS[name].value for name in EXPERIMENT_FLAGS}


def check_resumed(record, folder):
  """Raises a ValueError naming the flags whose values differ from those `record` (a
  finished experiment in `folder`) was made with; records older than the check pass."""
  recorded, now = record.get("settings"), experiment_settings()
  if recorded is None or recorded == now:
    return
  changed = [f"{k}={recorded.get(k)} (now {now[k]})" for k in now if recorded.get(k) != now[k]]
  raise ValueError(
    f"{folder} finished under other settings: {', '.join(changed)}; rerun with those, "
    "or give another `work_dir`."
  )


def experiment_tag(arch, task, category):
  return f"{arch}-{task}" + (f"-{category}" if category else "")


def train_performers(work, data, unlabeled, arch, task, category, train_split):
  """The experiment's performers, `{seed: folder}`; trains the ones not finished yet.

  Under `--performer_teacher` every other architecture's performer also trains on the
  `unlabeled` images, labelled by the teacher architecture's performer of the same
  experiment and seed (trained here first, as its own experiment would train it).
  """
  from tf_explainer.train import performer_lib

  folder = os.path.join(work, experiment_tag(arch, task, category))
  seeds = [int(s) for s in _SEEDS.value]
  vary = _VARY_PERFORMER.value
  teacher = _TEACHER.value if _TEACHER.value != arch else None
  teachers = (
    train_performers(work, data, None, teacher, task, category, train_split) if teacher else {}
  )
  performers = {
    seed: os.path.join(folder, f"performer-seed{seed}" if vary else "performer") for seed in seeds
  }
  for seed in seeds if vary else seeds[:1]:
    performer = performers[seed]
    if not os.path.exists(os.path.join(performer, "performer.keras")):  # a finished one is kept
      performer_lib.run(
        mixed_precision="float32",  # the policy every recorded figure used
        dataset_dir=data,
        model_dir=performer,
        arch=arch,
        image_size=IMAGE_SIZE[arch],
        task=task,
        target_class=category,
        epochs=_PERFORMER_EPOCHS.value,
        width=_WIDTH.value,
        fc_units=_FC_UNITS.value,
        **common.performer_recipe(),
        **common.performer_start(_PERFORMER_WEIGHTS),
        seed=seed if vary else 0,
        verbose=0,
        train_split=train_split,
        deterministic=_DETERMINISTIC.value,
        unlabeled_dir=unlabeled if teacher else None,
        teacher_dir=teachers.get(seed),
      )
  return performers


def run_one(work, data, unlabeled, arch, task, category, measured=None):
  """One experiment in `<work>/<arch>-<task>[-<category>]`, resumed where it stopped.

  `measured`: the dataset the explainers are measured on where it is not `data` (drawn
  validation images, all held out); they then train on all of `data`'s training images.
  """
  from tf_explainer import evaluate_lib
  from tf_explainer.train import explainer_lib

  tag = experiment_tag(arch, task, category)
  folder = os.path.join(work, tag)
  done = os.path.join(folder, "result.json")
  if os.path.exists(done):  # the harness resumes where it stopped
    with open(done) as f:
      record = json.load(f)
    if not _TABLES_ONLY.value:
      check_resumed(record, folder)
    return record
  if _TABLES_ONLY.value:
    return None
  start = time.time()
  carved = _SPLIT.value == "validation" and measured is None
  train_split = "train_without_validation" if carved else "train"
  measured_split = "test" if measured else _SPLIT.value
  seeds = [int(s) for s in _SEEDS.value]
  vary = _VARY_PERFORMER.value
  performers = train_performers(work, data, unlabeled, arch, task, category, train_split)
  variants = {"explainer": None}
  if unlabeled:
    variants["explainer_unlabeled"] = unlabeled
  result = {
    "arch": arch,
    "task": task,
    "category": category,
    "seeds": seeds,
    "vary_performer": vary,
    "split": _SPLIT.value,
    "validation_images": _VALIDATION_IMAGES.value if measured else 0,
    "performer_weights": _PERFORMER_WEIGHTS.value,
    "performer_weights_sha256": common.performer_weights_sha256(arch, _PERFORMER_WEIGHTS),
    "performer_teacher": _TEACHER.value if _TEACHER.value != arch else None,
    "settings": experiment_settings(),
    "runs": {},
  }
  for name, unlabeled_dir in variants.items():
    runs = []
    for seed in seeds:
      sub = os.path.join(folder, f"{name}-seed{seed}")
      finished = os.path.join(sub, "evaluation", "metrics.json")
      if os.path.exists(finished):  # resumes within an experiment too
        with open(finished) as f:
          runs.append(json.load(f))
        continue
      explainer_lib.run(
        mixed_precision="float32",  # the policy every recorded figure used
        performer_dir=performers[seed],
        dataset_dir=data,
        model_dir=os.path.join(sub, "explainer"),
        epochs=_EXPLAINER_EPOCHS.value,
        monitor_every=0,
        seed=seed,
        verbose=0,
        unlabeled_dir=unlabeled_dir,
        deterministic=_DETERMINISTIC.value,
        train_split=train_split,
      )
      runs.append(
        evaluate_lib.run(
          explainer_dir=os.path.join(sub, "explainer"),
          dataset_dir=measured or data,
          output_dir=os.path.join(sub, "evaluation"),
          split=measured_split,
          verbose=0,
          make_figures=seed == seeds[0],
          seed=seed,
          deterministic=_DETERMINISTIC.value,
        )
      )
    result["runs"][name] = runs
  result["metrics"] = result["runs"]["explainer"][0]  # performer figures (same for all runs)
  if _CLS.value:  # one Explainer+cls per seed, on that seed's performer
    errors, deltas = [], []
    for k, seed in enumerate(seeds):
      sub = "cls" if k == 0 else f"cls-seed{seed}"  # the first keeps its older name
      evaluation = os.path.join(folder, f"{sub}_evaluation")
      if not os.path.exists(os.path.join(folder, sub, "explainer.keras")):
        explainer_lib.run(
          mixed_precision="float32",  # the policy every recorded figure used
          performer_dir=performers[seed],
          dataset_dir=data,
          model_dir=os.path.join(folder, sub),
          epochs=_EXPLAINER_EPOCHS.value,
          monitor_every=0,
          seed=seed,
          verbose=0,
          objective="classification",
          deterministic=_DETERMINISTIC.value,
          train_split=train_split,
        )
      cls = evaluate_lib.run(
        explainer_dir=os.path.join(folder, sub),
        dataset_dir=measured or data,
        output_dir=evaluation,
        split=measured_split,
        verbose=0,
        make_figures=False,
        seed=seed,
        deterministic=_DETERMINISTIC.value,
      )
      errors.append(cls["error"]["explainer"])
      deltas.append(cls["error"]["delta"])
    result["explainer_cls_errors"] = errors
    result["explainer_cls_error"] = sum(errors) / len(errors)
    result["explainer_cls_delta"] = sum(deltas) / len(deltas)
  result["seconds"] = time.time() - start
  with open(done, "w") as f:
    json.dump(result, f, indent=2)
  for name, runs in result["runs"].items():
    print(
      f"{tag} {name}: LI ratio {[round(ratio(r), 3) for r in runs]}, "
      f"p {[round(r['p'], 3) for r in runs]}, "
      f"Delta error {[round(r['error']['delta'], 4) for r in runs]}",
      flush=True,
    )
  return result


def ratio(metrics):
  li = metrics["location_instability"]
  if li["explainer"] is None or not li["performer_top_conv"]:
    return None
  return li["explainer"] / li["performer_top_conv"]


class Spread(float):
  """A mean over seeds that keeps their sample standard deviation and count for the tables."""

  def __new__(cls, values):
    obj = super().__new__(cls, sum(values) / len(values))
    obj.std = statistics.stdev(values) if len(values) > 1 else None
    obj.n = len(values)
    return obj


def run_mean(result, name, value):
  """Mean (a `Spread`) of `value(metrics)` over the seeds of one explainer variant, or None."""
  if not result or name not in result.get("runs", {}):
    return None
  values = [v for v in (value(m) for m in result["runs"][name]) if v is not None]
  return Spread(values) if values else None


def fmt(value, percent=False):
  """`0.123`, `12.30%`, and `0.123 ± 0.004` for a mean over several seeds."""
  if value is None:
    return "n/a"
  scale, unit, digits = (100, "%", 2) if percent else (1, "", 3)
  text = f"{scale * value:.{digits}f}{unit}"
  if getattr(value, "std", None) is not None:
    text += f" ± {scale * value.std:.{digits}f}{unit}"
  return text


def mean(values):
  """Plain mean of the values that exist (across categories: no seed spread)."""
  values = [float(v) for v in values if v is not None]
  return sum(values) / len(values) if values else None


def performer_value(result, value):
  """A performer figure: the one performer's, or mean ± std over seeds with --vary_performer."""
  if not result:
    return None
  if result.get("vary_performer"):
    return run_mean(result, "explainer", value)
  return value(result["metrics"])


VARIANTS = (("explainer", "Explainer"), ("explainer_unlabeled", "Explainer (+unlabeled)"))


def tables(results, archs, categories):
  """Markdown in the layout of the paper's Tables 1 (with Table 5's target rows), 2 and 3.

  Explainer figures are means over the seeds of each variant, with their
  sample standard deviation (`mean ± std`) where there are several seeds;
  so are the performer's with `--vary_performer`. Averages over categories
  are plain means.
  """

  def get(a, t, c=None):
    return next(
      (r for r in results if r["arch"] == a and r["task"] == t and r["category"] == c), None
    )

  li = lambda r, k: performer_value(r, lambda m: m["location_instability"][k])  # noqa: E731
  li_mean = lambda r, name: run_mean(r, name, lambda m: m["location_instability"]["explainer"])  # noqa
  ratio_mean = lambda r, name: run_mean(r, name, ratio)  # noqa: E731
  variants = [(k, label) for k, label in VARIANTS if any(k in r.get("runs", {}) for r in results)]
  head = "| | " + " | ".join(categories) + " | single avg. | multi |"
  lines = [
    "## Location instability (Table 1; target-layer rows as Table 5)",
    "",
    head,
    "|---" * (len(categories) + 3) + "|",
  ]
  for arch in archs:
    rows = [
      (f"{NAMES[arch]} (target layer)", lambda r: li(r, "performer_target")),
      (f"{NAMES[arch]} (top conv layer)", lambda r: li(r, "performer_top_conv")),
    ]
    for key, label in variants:
      rows.append((label, lambda r, key=key: li_mean(r, key)))
      rows.append((f"{label} / top conv", lambda r, key=key: ratio_mean(r, key)))
    for label, value in rows:
      row = [value(get(arch, "single", c)) for c in categories]
      lines.append(
        f"| {label} | "
        + " | ".join(fmt(v) for v in row)
        + f" | {fmt(mean(row))} | {fmt(value(get(arch, 'multi')))} |"
      )
  lines += [
    "",
    "## p, the interpretable track's share (Table 2)",
    "",
    "| | single avg. | multi |",
    "|---|---|---|",
  ]
  for arch in archs:
    for key, label in variants:
      p_mean = lambda r: run_mean(r, key, lambda m: m["p"])  # noqa: E731
      single = mean([p_mean(get(arch, "single", c)) for c in categories])
      lines.append(
        f"| {NAMES[arch]}, {label} | {fmt(single)} | {fmt(p_mean(get(arch, 'multi')))} |"
      )
  header = "| | Performer | " + " | ".join(f"{label} | Delta error" for _, label in variants)
  lines += [
    "",
    "## Classification error, multi-category (Table 3)",
    "",
    header + " | Explainer+cls | Delta error |",
    "|---" * (4 + 2 * len(variants)) + "|",
  ]
  for arch in archs:
    r = get(arch, "multi")
    if not r:
      continue
    cells = [fmt(performer_value(r, lambda m: m["error"]["performer"]), True)]
    for key, _ in variants:
      cells += [
        fmt(run_mean(r, key, lambda m: m["error"]["explainer"]), True),
        fmt(run_mean(r, key, lambda m: m["error"]["delta"]), True),
      ]
    cls = r.get("explainer_cls_error")
    delta = r.get("explainer_cls_delta")
    if delta is None and cls is not None:  # results of the one-seed harness
      delta = cls - r["metrics"]["error"]["performer"]
    cells += [fmt(cls, True), fmt(delta, True)]
    lines.append(f"| {NAMES[arch]} | " + " | ".join(cells) + " |")
  lines += [
    "",
    "## Classification error, single-category averages (Table 7)",
    "",
    "| | Performer | " + " | ".join(label for _, label in variants) + " | Explainer+cls |",
    "|---" * (3 + len(variants)) + "|",
  ]
  for arch in archs:
    rows = [get(arch, "single", c) for c in categories if get(arch, "single", c)]
    if rows:
      cells = [
        fmt(mean([performer_value(r, lambda m: m["error"]["performer"]) for r in rows]), True)
      ]
      cells += [
        fmt(mean([run_mean(r, key, lambda m: m["error"]["explainer"]) for r in rows]), True)
        for key, _ in variants
      ]
      cells.append(fmt(mean([r.get("explainer_cls_error") for r in rows]), True))
      lines.append(f"| {NAMES[arch]} | " + " | ".join(cells) + " |")
  taught = {r["arch"]: r["performer_teacher"] for r in results if r.get("performer_teacher")}
  for arch, teacher in sorted(taught.items()):
    lines += [
      "",
      f"{NAMES[arch]}'s performers also trained on the unlabeled images, labelled by the "
      f"{NAMES[teacher]} performer of the same experiment and seed (no true label of them read).",
    ]
  return "\n".join(lines) + "\n"


def main(_):
  from tf_explainer.data import synthetic

  work = _WORK_DIR.value
  os.makedirs(work, exist_ok=True)
  data = os.path.join(work, "data")
  if not os.path.exists(os.path.join(data, "images.txt")):
    synthetic.generate(data, _NUM_IMAGES.value, seed=0)
  unlabeled = None
  if _UNLABELED.value:
    unlabeled = os.path.join(work, "unlabeled")
    if not os.path.exists(os.path.join(unlabeled, "images.txt")):
      synthetic.generate(unlabeled, _UNLABELED.value, seed=1, train_fraction=1.0)
  measured = None
  if _VALIDATION_IMAGES.value and _SPLIT.value == "validation":
    measured = os.path.join(work, f"validation-seed{_VALIDATION_SEED.value}")
    if not os.path.exists(os.path.join(measured, "images.txt")):
      synthetic.generate(
        measured, _VALIDATION_IMAGES.value, seed=_VALIDATION_SEED.value, train_fraction=0.0
      )
    print(
      "Note: with --validation_images the performers train as for --split=test; a test run "
      f"with the same --seeds ({','.join(_SEEDS.value)}) re-measures these very performers, "
      "so choose on seeds the test run will not use.",
      flush=True,
    )
  results = []
  for arch in _ARCHS.value:
    if "multi" in _PROTOCOLS.value:
      results.append(run_one(work, data, unlabeled, arch, "multi", None, measured))
    if "single" in _PROTOCOLS.value:
      for category in _CATEGORIES.value:
        results.append(run_one(work, data, unlabeled, arch, "single", category, measured))
  report = {
    "settings": {
      **{name: flags.FLAGS[name].value for name in ("archs", "categories", "protocols")},
      **experiment_settings(),
    },
    "experiments": results,
  }
  results = [r for r in results if r is not None]
  report["experiments"] = results
  if _PERFORMANCE.value:
    from benchmarks import explainer_training

    report["performance"] = explainer_training.measure()
  text = tables(results, _ARCHS.value, _CATEGORIES.value)
  with open(os.path.join(work, "tables.md"), "w") as f:
    f.write(text)
  with open(os.path.join(work, "results.json"), "w") as f:
    json.dump({"machine": common.machine(), **report}, f, indent=2)
  print(text)
  print(f"Saved {os.path.join(work, 'results.json')} and {os.path.join(work, 'tables.md')}")


if __name__ == "__main__":
  cli.run(main)
