"""Which part of the method makes filters part-specific: ablations on the validation split.

For each architecture: one multi-category performer trained on the training
split less the validation split (`train_without_validation`); for each
variant and seed, an explainer distilled on the same images and measured on
the validation split (never on test images). Every finished run is kept, so
the script resumes where it stopped. Writes a list of records, one per
(variant, arch), to `--out` (default `benchmarks/results/ablations.json`):

    {"variant", "arch", "split", "seeds", "ratio", "ratio_top_n": {"20", "50", "100"},
     "silent_share", "p", "delta_error", "filters_per_part", ...}

with means over the seeds (and `*_std`, `per_seed` and the `machine` beside
them).

    python -m benchmarks.ablations --work_dir=runs/ablations --archs=alexnet,vgg16
    python -m benchmarks.ablations --work_dir=runs/ablations --archs=alexnet \
        --performer_weights=synthetic --performer_epochs=alexnet:25

Records of other experiments already in `--out` are kept.
"""

import json
import os
import statistics
import time

from absl import app, flags

from benchmarks import common

VARIANTS = {
  "default": {},
  "lambda_f_zero": {"lambda_f_divisor": float("inf")},
  "no_mask": {"mask": False},
  "exact": {"gradient": "exact"},
  "icnn": {"gradient": "icnn"},
  "icnn_argmax": {"gradient": "icnn", "icnn_centre": "argmax"},
  "icnn_fixed_beta": {"gradient": "icnn", "icnn_beta": "fixed"},
  "lambda_f_x10": {"lambda_f_divisor": 30.0},
  "lambda_f_x100": {"lambda_f_divisor": 3.0},
  "icnn_lambda_f_x100": {"gradient": "icnn", "lambda_f_divisor": 3.0},
  "icnn_lambda_f_zero": {"gradient": "icnn", "lambda_f_divisor": float("inf")},
  # The second interpretable conv starts as the identity (the decoder, copied
  # from fc6/fc7, then reads the copy of the performer's top conv it was made for).
  "identity_init": {"interp_init": "identity"},
  "identity_init_lambda_f_zero": {"interp_init": "identity", "lambda_f_divisor": float("inf")},
  "identity_init_learning_rate_1e-3": {"interp_init": "identity", "learning_rate": 1e-3},
  # Untrained, identity-initialised filters spread over the parts; training with
  # the paper's lambda_f rule pulls them onto the torso. A stronger filter loss?
  "identity_init_lambda_f_x100": {"interp_init": "identity", "lambda_f_divisor": 3.0},
  "identity_init_lambda_f_x1000": {"interp_init": "identity", "lambda_f_divisor": 0.3},
  "identity_init_lambda_f_x10000": {"interp_init": "identity", "lambda_f_divisor": 0.03},
  "identity_init_lambda_f_x1000_learning_rate_1e-3": {
    "interp_init": "identity",
    "lambda_f_divisor": 0.3,
    "learning_rate": 1e-3,
  },
  "identity_init_icnn_argmax_lambda_f_x100": {
    "interp_init": "identity",
    "gradient": "icnn",
    "icnn_centre": "argmax",
    "lambda_f_divisor": 3.0,
  },
  # One interpretable layer: the part maps are the masked copy of the performer's
  # top conv, with no random 3x3 conv over all its maps after it (which puts
  # every untrained filter's peak on the torso, docs/research-log.md).
  "one_interp_layer": {"interp_layers": 1},
  "one_interp_layer_lambda_f_zero": {"interp_layers": 1, "lambda_f_divisor": float("inf")},
  "one_interp_layer_lambda_f_x1000": {"interp_layers": 1, "lambda_f_divisor": 0.3},
  "one_interp_layer_learning_rate_1e-3": {"interp_layers": 1, "learning_rate": 1e-3},
  # The decoder reads each filter's global maximum, not a pooled map: it no
  # longer pays a filter for firing at a fixed place (the crop's centre).
  "global_max": {"decoder_input": "global_max"},
  "global_max_lambda_f_zero": {"decoder_input": "global_max", "lambda_f_divisor": float("inf")},
  "global_max_identity_init": {"decoder_input": "global_max", "interp_init": "identity"},
  "global_max_one_interp_layer": {"decoder_input": "global_max", "interp_layers": 1},
  "global_max_one_interp_layer_lambda_f_zero": {
    "decoder_input": "global_max",
    "interp_layers": 1,
    "lambda_f_divisor": float("inf"),
  },
  "global_max_one_interp_layer_lambda_f_x100": {
    "decoder_input": "global_max",
    "interp_layers": 1,
    "lambda_f_divisor": 3.0,
  },
  "global_max_one_interp_layer_learning_rate_1e-3": {
    "decoder_input": "global_max",
    "interp_layers": 1,
    "learning_rate": 1e-3,
  },
  # The spread filters above are unstable: can a strong filter loss pin each to one place?
  "global_max_one_interp_layer_learning_rate_1e-3_lambda_f_x1000": {
    "decoder_input": "global_max",
    "interp_layers": 1,
    "learning_rate": 1e-3,
    "lambda_f_divisor": 0.3,
  },
  "global_max_one_interp_layer_learning_rate_1e-3_lambda_f_x10000": {
    "decoder_input": "global_max",
    "interp_layers": 1,
    "learning_rate": 1e-3,
    "lambda_f_divisor": 0.03,
  },
  "global_max_one_interp_layer_learning_rate_1e-3_icnn": {
    "decoder_input": "global_max",
    "interp_layers": 1,
    "learning_rate": 1e-3,
    "gradient": "icnn",
    "icnn_centre": "argmax",
  },
  # Not in the paper: a term against part maps that fire at the same units
  # (`overlap_weight`; the reconstruction term starts near 1e6).
  "overlap_1e5": {"overlap_weight": 1e5},
  "overlap_1e6": {"overlap_weight": 1e6},
  "overlap_1e7": {"overlap_weight": 1e7},
  "overlap_1e8": {"overlap_weight": 1e8},
  "overlap_1e6_lambda_f_zero": {"overlap_weight": 1e6, "lambda_f_divisor": float("inf")},
  "overlap_1e7_lambda_f_zero": {"overlap_weight": 1e7, "lambda_f_divisor": float("inf")},
  "one_interp_layer_learning_rate_1e-3_overlap_1e6": {
    "interp_layers": 1,
    "learning_rate": 1e-3,
    "overlap_weight": 1e6,
  },
  "global_max_one_interp_layer_learning_rate_1e-3_overlap_1e7": {
    "decoder_input": "global_max",
    "interp_layers": 1,
    "learning_rate": 1e-3,
    "overlap_weight": 1e7,
  },
  # The explainer's step 10x larger: it under-fits at 1e-4 (benchmarks/explainer_cls.py).
  "learning_rate_1e-3": {"learning_rate": 1e-3},
  "learning_rate_1e-3_lambda_f_zero": {"learning_rate": 1e-3, "lambda_f_divisor": float("inf")},
}
IMAGE_SIZE = {"alexnet": 131, "vgg16": 112}

_WORK_DIR = flags.DEFINE_string("work_dir", "runs/ablations", "Output folder of the runs.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/ablations.json", "The records.")
_ARCHS = flags.DEFINE_list("archs", ["alexnet", "vgg16"], "Performer architectures.")
_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS), "Variants to run.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Explainer seeds.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 1200, "Synthetic images.")
_CORPUS = flags.DEFINE_string(
  "corpus", "demo", "Synthetic corpus of the data (tf_explainer.data.synthetic.CORPORA)."
)
_PERFORMER_EPOCHS = flags.DEFINE_list(
  "performer_epochs", ["alexnet:60", "vgg16:25"], "arch:epochs of each performer."
)
_EXPLAINER_EPOCHS = flags.DEFINE_integer("explainer_epochs", 40, "Explainer epochs.")
# Fine-tuned performers' runs go to <work_dir>/<arch>-synthetic.
_PERFORMER_WEIGHTS, _, _PERFORMER_SCHEDULE, _PERFORMER_ZOOM = common.define_performer_flags()
_REEVALUATE = flags.DEFINE_boolean(
  "reevaluate",
  False,
  "Measure finished explainers again (after the evaluation gained a figure); none is retrained.",
)
_DETERMINISTIC = common.define_deterministic_flag(True)

SPLIT = "validation"
# The recipe flags added after records of this study were first made: recorded and keyed
# only where set, so that older records keep their keys.
LATER_RECIPE_FLAGS = common.RECIPE_FLAGS[3:]
TRAIN_SPLIT = "train_without_validation"


def arch_dir(arch):
  """The runs of one architecture: `<arch>`, or `<arch>-synthetic` for fine-tuned performers."""
  return arch if _PERFORMER_WEIGHTS.value == "scratch" else f"{arch}-synthetic"


def performer(work, data, arch):
  from tf_explainer.train import performer_lib

  epochs = dict(item.split(":") for item in _PERFORMER_EPOCHS.value)
  folder = os.path.join(work, arch_dir(arch), "performer")
  if not os.path.exists(os.path.join(folder, "performer.keras")):
    performer_lib.run(
      mixed_precision="float32",  # the policy every recorded figure used
      dataset_dir=data,
      model_dir=folder,
      arch=arch,
      image_size=IMAGE_SIZE[arch],
      task="multi",
      epochs=int(epochs[arch]),
      width=0.25,
      fc_units=256,
      seed=0,
      verbose=0,
      train_split=TRAIN_SPLIT,
      deterministic=_DETERMINISTIC.value,
      **common.performer_recipe(),
      **common.performer_start(_PERFORMER_WEIGHTS),
    )
  return folder


def one_run(work, data, arch, performer_dir, variant, seed):
  """metrics.json of one explainer, trained and measured unless an earlier call did."""
  from tf_explainer import evaluate_lib
  from tf_explainer.train import explainer_lib

  folder = os.path.join(work, arch_dir(arch), f"{variant}-seed{seed}")
  finished = os.path.join(folder, "evaluation", "metrics.json")
  trained = os.path.exists(os.path.join(folder, "explainer", "explainer.keras"))
  if not os.path.exists(finished) or (_REEVALUATE.value and trained):
    start = time.time()
    if not trained:
      explainer_lib.run(
        mixed_precision="float32",  # the policy every recorded figure used
        performer_dir=performer_dir,
        dataset_dir=data,
        model_dir=os.path.join(folder, "explainer"),
        epochs=_EXPLAINER_EPOCHS.value,
        monitor_every=0,
        seed=seed,
        verbose=0,
        train_split=TRAIN_SPLIT,
        deterministic=_DETERMINISTIC.value,
        **VARIANTS[variant],
      )
    evaluate_lib.run(
      explainer_dir=os.path.join(folder, "explainer"),
      dataset_dir=data,
      output_dir=os.path.join(folder, "evaluation"),
      split=SPLIT,
      verbose=0,
      make_figures=False,
      seed=seed,
      deterministic=_DETERMINISTIC.value,
    )
    print(f"{arch} {variant} seed {seed}: {time.time() - start:.0f} s", flush=True)
  with open(finished) as f:
    return json.load(f)


def ratio(li):
  if li["explainer"] is None or not li["performer_top_conv"]:
    return None
  return li["explainer"] / li["performer_top_conv"]


def summarize(variant, arch, seeds, runs):
  """One record: means (and sample std) over the seeds."""

  def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
      return None, None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None

  record = {
    "variant": variant,
    "arch": arch,
    "split": SPLIT,
    "seeds": seeds,
    "performer_weights": _PERFORMER_WEIGHTS.value,
    "performer_learning_rate_schedule": _PERFORMER_SCHEDULE.value,
    "performer_zoom": _PERFORMER_ZOOM.value,
    **{
      name: flags.FLAGS[name].value
      for name in LATER_RECIPE_FLAGS
      if flags.FLAGS[name].value != flags.FLAGS[name].default
    },
    "performer_weights_sha256": common.performer_weights_sha256(arch, _PERFORMER_WEIGHTS),
    "arguments": {k: (str(v) if v == float("inf") else v) for k, v in VARIANTS[variant].items()},
    "corpus": _CORPUS.value,
  }
  for key, value in (
    ("ratio", lambda m: ratio(m["location_instability"])),
    ("p", lambda m: m["p"]),
    ("delta_error", lambda m: m["error"]["delta"]),
    ("silent_share", lambda m: m["silent_share"]["explainer"]),
    ("central_peak_share", lambda m: m["central_peak_share"]["explainer"]),
  ):
    record[key], record[f"{key}_std"] = mean_std([value(m) for m in runs])
  record["ratio_top_n"] = {
    n: mean_std([ratio(m["location_instability_top_n"][n]) for m in runs])[0]
    for n in ("20", "50", "100")
  }
  parts = runs[0].get("filters_per_part") or {}
  record["filters_per_part"] = {
    part: statistics.mean(m["filters_per_part"][part] for m in runs) for part in parts
  }
  record["per_seed"] = [
    {
      "seed": s,
      "ratio": ratio(m["location_instability"]),
      "p": m["p"],
      "delta_error": m["error"]["delta"],
      "filters_per_part": m.get("filters_per_part"),
    }
    for s, m in zip(seeds, runs)
  ]
  record["performer_error"] = runs[0]["error"]["performer"]
  record["images"] = runs[0]["num_images"]
  return record


def merged(path, records):
  """The records already in `path`, with those of this run replacing the same experiment."""

  def key(r):
    return (
      r["variant"],
      r["arch"],
      r.get("performer_weights", "scratch"),
      r.get("corpus", "demo"),
      r.get("performer_learning_rate_schedule", "constant"),
      r.get("performer_zoom", 0.0),
      *(r.get(name, flags.FLAGS[name].default) for name in LATER_RECIPE_FLAGS),
      r.get("performer_weights_sha256"),
    )

  old = []
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
  mine = {key(r) for r in records}
  return [r for r in old if key(r) not in mine] + records


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  unknown = sorted(set(_VARIANTS.value) - set(VARIANTS))
  if unknown:
    raise app.UsageError(f"--variants: unknown {unknown}; known: {sorted(VARIANTS)}.")
  from tf_explainer import io_utils
  from tf_explainer.data import synthetic

  work = _WORK_DIR.value
  data = os.path.join(work, "data")
  if not os.path.exists(os.path.join(data, "images.txt")):
    synthetic.generate(data, _NUM_IMAGES.value, seed=0, progress=False, corpus=_CORPUS.value)
  seeds = [int(s) for s in _SEEDS.value]
  records = []
  for arch in _ARCHS.value:
    performer_dir = performer(work, data, arch)
    for variant in _VARIANTS.value:
      runs = [one_run(work, data, arch, performer_dir, variant, seed) for seed in seeds]
      records.append(summarize(variant, arch, seeds, runs))
      r = records[-1]
      fmt = lambda v, scale=1.0: "n/a" if v is None else f"{scale * v:.3f}"  # noqa: E731
      print(
        f"{arch} {variant}: ratio {fmt(r['ratio'])}, p {fmt(r['p'])}, Delta error "
        f"{fmt(r['delta_error'], 100)} points, silent {fmt(r['silent_share'])}, "
        f"peaks at the centre {fmt(r['central_peak_share'])}, "
        f"parts {r['filters_per_part']}",
        flush=True,
      )
      r["machine"] = common.machine()
      os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
      io_utils.write_json(_OUT.value, merged(_OUT.value, records))


if __name__ == "__main__":
  app.run(main)
