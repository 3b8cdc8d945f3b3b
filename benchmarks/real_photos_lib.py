"""The real-photo experiment's steps and tables (`benchmarks.real_photos` is the program)."""

import json
import os
import shutil
import time

import numpy as np

BASE_PERFORMER = {"arch": "vgg16", "weights": "imagenet", "task": "single", "target_class": "face"}


def timed(times, key, fn, **kwargs):
  """`fn(**kwargs)`, its wall time in seconds stored as `times[key]`."""
  start = time.time()
  out = fn(**kwargs)
  times[key] = round(time.time() - start, 1)
  return out


def run_one(
  data, work, performer_name, performer_args, variant, explainer_args, seed, split, train_split
):
  """One seed of one (performer, explainer) variant; returns its record."""
  from tf_explainer import evaluate_lib
  from tf_explainer.train import explainer_lib, performer_lib

  performer_dir = os.path.join(work, f"{performer_name}-s{seed}", "performer")
  explainer_dir = os.path.join(work, f"{performer_name}-s{seed}", variant, "explainer")
  eval_dir = os.path.join(work, f"{performer_name}-s{seed}", variant, f"evaluation-{split}")
  name = "record.json" if split == "validation" else f"record-{split}.json"
  record_path = os.path.join(os.path.dirname(explainer_dir), name)
  record = json.load(open(record_path)) if os.path.exists(record_path) else {"times": {}}
  times = record["times"]
  common_args = {"seed": seed, "verbose": 1, "train_split": train_split}
  if not os.path.exists(os.path.join(performer_dir, "performer.keras")):
    timed(
      times,
      "performer",
      performer_lib.run,
      dataset_dir=data,
      model_dir=performer_dir,
      **{**BASE_PERFORMER, **performer_args, **common_args},
    )
  if not os.path.exists(os.path.join(explainer_dir, "explainer.keras")):
    share_caches(os.path.dirname(performer_dir), explainer_dir)
    timed(
      times,
      "explainer",
      explainer_lib.run,
      performer_dir=performer_dir,
      dataset_dir=data,
      model_dir=explainer_dir,
      **{**explainer_args, **common_args},
    )
  metrics_path = os.path.join(eval_dir, "metrics.json")
  if not os.path.exists(metrics_path):
    timed(
      times,
      "evaluate",
      evaluate_lib.run,
      explainer_dir=explainer_dir,
      dataset_dir=data,
      output_dir=eval_dir,
      split=split,
      seed=seed,
    )
  record.update(
    performer=performer_name,
    performer_args=performer_args,
    variant=variant,
    explainer_args=explainer_args,
    seed=seed,
    split=split,
    train_split=train_split,
    metrics=json.load(open(metrics_path)),
  )
  with open(record_path + ".tmp", "w") as f:
    json.dump(record, f, indent=2)
  os.replace(record_path + ".tmp", record_path)
  return record


def share_caches(seed_dir, explainer_dir):
  """Hard-links the complete feature caches of the other explainers in `seed_dir` (one
  performer and seed) into `explainer_dir`, which has none yet: a variant that reads the same
  layer finds its key there and skips the caching pass; the explainer removes the others."""
  target = os.path.join(explainer_dir, "feature_cache")
  if os.path.exists(target):
    return
  for variant in sorted(os.listdir(seed_dir)):
    source = os.path.join(seed_dir, variant, "explainer", "feature_cache")
    if not os.path.isdir(source):  # the performer's folder, or a variant not yet cached
      continue
    for name in sorted(os.listdir(source)):
      cache = os.path.join(source, name)
      if os.path.exists(os.path.join(cache, "complete.json")) and not os.path.exists(
        os.path.join(target, name)
      ):
        shutil.copytree(cache, os.path.join(target, name), copy_function=os.link)


def parts_holding(tracking, share=0.1):
  """How many parts hold at least `share` of the distinct peak patterns, from one layer's
  `part_tracking` summary."""
  patterns = tracking["patterns"]
  shares = [n / patterns for n in tracking["per_part_patterns"].values()] if patterns else []
  return int(sum(s >= share for s in shares))


def figures_of(metrics):
  """The figures a table row shows, from one run's metrics.json."""
  tracking = metrics.get("part_tracking") or {}
  li = metrics["location_instability"]
  out = {
    "ratio": li["explainer"] / li["performer_top_conv"]
    if li.get("explainer") and li.get("performer_top_conv")
    else np.nan,
    "p": metrics["p"],
    "delta_error_points": 100 * metrics["error"]["delta"],
    "performer_error": 100 * metrics["error"]["performer"],
  }
  for layer, key in (
    ("explainer", "expl"),
    ("performer_top_conv", "top"),
    ("performer_target", "target"),
  ):
    t = tracking.get(layer)
    if not t:
      continue
    out[f"{key}_tracking"] = 100 * t["share"]
    out[f"{key}_pattern_share"] = 100 * (t["pattern_share"] or 0)
    out[f"{key}_patterns"] = t["patterns"]
    out[f"{key}_parts_10pct"] = parts_holding(t)
  if tracking.get("fixed_point"):
    out["fixed_point_instability"] = tracking["fixed_point"]["location_instability"]
  return out


def table(records):
  """Markdown table: mean (and std over seeds) per (performer, variant)."""
  groups = {}
  for r in records:
    groups.setdefault((r["performer"], r["variant"]), []).append(figures_of(r["metrics"]))
  columns = [
    ("expl_tracking", "filters tracking %"),
    ("expl_pattern_share", "patterns tracking %"),
    ("expl_patterns", "patterns"),
    ("expl_parts_10pct", "parts >= 10%"),
    ("top_tracking", "top conv tracking %"),
    ("ratio", "ratio"),
    ("fixed_point_instability", "fixed point"),
    ("p", "p"),
    ("delta_error_points", "Delta-error"),
    ("performer_error", "performer error %"),
  ]
  lines = [
    "| performer | explainer | seeds | " + " | ".join(c for _, c in columns) + " |",
    "|" + "---|" * (len(columns) + 3),
  ]
  for (performer, variant), rows in sorted(groups.items()):
    cells = []
    for key, _ in columns:
      values = np.array([r.get(key, np.nan) for r in rows], float)
      mean = np.nanmean(values) if np.any(np.isfinite(values)) else np.nan
      std = np.nanstd(values, ddof=1) if np.sum(np.isfinite(values)) > 1 else 0.0
      cells.append(f"{mean:.3g} ± {std:.2g}" if len(rows) > 1 else f"{mean:.3g}")
    lines.append(f"| {performer} | {variant} | {len(rows)} | " + " | ".join(cells) + " |")
  return "\n".join(lines)
