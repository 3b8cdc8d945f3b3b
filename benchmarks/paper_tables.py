"""The paper's experiments at CPU scale on the embedded synthetic data.

For each architecture: single-category performers (each chosen category
against the rest) and one multi-category performer; for each performer an
explainer and an Explainer+cls baseline; then the paper's measures. Writes
`results.json` and `tables.md` (the layout of the paper's Tables 1-3) in
`--work_dir`, and the performance ratios measured in the same run.

    python benchmarks/paper_tables.py --work_dir=runs/paper --archs=alexnet,vgg16
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from benchmarks import common  # noqa: E402

_WORK_DIR = flags.DEFINE_string("work_dir", "runs/paper", "Output folder.")
_ARCHS = flags.DEFINE_list("archs", ["alexnet", "vgg16"], "Performer architectures.")
_CATEGORIES = flags.DEFINE_list("categories", ["bird", "cat", "cow", "dog", "horse", "sheep"],
                                "Categories of the single-category experiment.")
_PROTOCOLS = flags.DEFINE_list("protocols", ["single", "multi"], "Experiments to run.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 1200, "Synthetic images.")
_PERFORMER_EPOCHS = flags.DEFINE_integer("performer_epochs", 25, "Performer epochs.")
_EXPLAINER_EPOCHS = flags.DEFINE_integer("explainer_epochs", 40, "Explainer epochs.")
_WIDTH = flags.DEFINE_float("width", 0.25, "Performer width multiplier.")
_FC_UNITS = flags.DEFINE_integer("fc_units", 256, "Performer fc width.")
_CLS = flags.DEFINE_boolean("explainer_cls", True, "Also train the Explainer+cls baseline.")
_PERFORMANCE = flags.DEFINE_boolean("performance", True, "Also measure the performance ratios.")

IMAGE_SIZE = {"alexnet": 131, "vgg_m": 131, "vgg_s": 131, "vgg16": 112}
NAMES = {"alexnet": "AlexNet", "vgg_m": "VGG-M", "vgg_s": "VGG-S", "vgg16": "VGG-16"}


def run_one(work, data, arch, task, category, seed=0):
  from tf_explainer import evaluate_lib
  from tf_explainer.train import explainer_lib, performer_lib
  tag = f"{arch}-{task}" + (f"-{category}" if category else "")
  folder = os.path.join(work, tag)
  done = os.path.join(folder, "result.json")
  if os.path.exists(done):  # the harness resumes where it stopped
    with open(done) as f:
      return json.load(f)
  start = time.time()
  performer_lib.run(data, os.path.join(folder, "performer"), arch=arch,
                    image_size=IMAGE_SIZE[arch], task=task, target_class=category,
                    epochs=_PERFORMER_EPOCHS.value, width=_WIDTH.value,
                    fc_units=_FC_UNITS.value, seed=seed, verbose=0)
  explainer_lib.run(os.path.join(folder, "performer"), data, os.path.join(folder, "explainer"),
                    epochs=_EXPLAINER_EPOCHS.value, monitor_every=0, seed=seed, verbose=0)
  metrics = evaluate_lib.run(os.path.join(folder, "explainer"), data,
                             os.path.join(folder, "evaluation"), verbose=0)
  result = {"arch": arch, "task": task, "category": category, "metrics": metrics}
  if _CLS.value:
    explainer_lib.run(os.path.join(folder, "performer"), data, os.path.join(folder, "cls"),
                      epochs=_EXPLAINER_EPOCHS.value, monitor_every=0, seed=seed, verbose=0,
                      objective="classification")
    cls = evaluate_lib.run(os.path.join(folder, "explainer"), data,
                           os.path.join(folder, "evaluation"), verbose=0,
                           explainer_cls_dir=os.path.join(folder, "cls"))
    result["metrics"] = cls
    result["explainer_cls_error"] = cls["error"]["explainer_cls"]
  result["seconds"] = time.time() - start
  with open(done, "w") as f:
    json.dump(result, f, indent=2)
  li = metrics["location_instability"]
  print(f"{tag}: LI explainer {li['explainer']}, top conv {li['performer_top_conv']}, "
        f"p {metrics['p']:.3f}, error {metrics['error']}", flush=True)
  return result


def fmt(value, percent=False):
  if value is None:
    return "n/a"
  return f"{100 * value:.2f}%" if percent else f"{value:.3f}"


def mean(values):
  values = [v for v in values if v is not None]
  return sum(values) / len(values) if values else None


def tables(results, archs, categories):
  """Markdown in the layout of the paper's Tables 1 (with Table 5's target rows), 2 and 3."""
  get = lambda a, t, c=None: next((r for r in results if r["arch"] == a and r["task"] == t  # noqa
                                   and r["category"] == c), None)
  li = lambda r, k: r["metrics"]["location_instability"][k] if r else None  # noqa: E731
  head = "| | " + " | ".join(categories) + " | single avg. | multi |"
  lines = ["## Location instability (Table 1; target-layer rows as Table 5)", "", head,
           "|---" * (len(categories) + 3) + "|"]
  for arch in archs:
    for label, key in ((f"{NAMES[arch]} (target layer)", "performer_target"),
                       (f"{NAMES[arch]} (top conv layer)", "performer_top_conv"),
                       ("Explainer", "explainer")):
      row = [li(get(arch, "single", c), key) for c in categories]
      lines.append(f"| {label} | " + " | ".join(fmt(v) for v in row) +
                   f" | {fmt(mean(row))} | {fmt(li(get(arch, 'multi'), key))} |")
    ratios = [li(get(arch, "single", c), "explainer") / li(get(arch, "single", c),
                                                            "performer_top_conv")
              for c in categories if li(get(arch, "single", c), "explainer")]
    multi = get(arch, "multi")
    if multi and li(multi, "explainer"):
      ratios_multi = li(multi, "explainer") / li(multi, "performer_top_conv")
    else:
      ratios_multi = None
    lines.append("| Explainer / top conv | " + " | ".join(" " for _ in categories) +
                 f" | {fmt(mean(ratios))} | {fmt(ratios_multi)} |")
  lines += ["", "## p, the interpretable track's share (Table 2)", "",
            "| | single avg. | multi |", "|---|---|---|"]
  for arch in archs:
    single = mean([get(arch, "single", c)["metrics"]["p"] for c in categories
                   if get(arch, "single", c)])
    multi = get(arch, "multi")
    lines.append(f"| {NAMES[arch]} | {fmt(single)} | {fmt(multi['metrics']['p'] if multi else None)} |")
  lines += ["", "## Classification error, multi-category (Table 3)", "",
            "| | Performer | Explainer | Delta error | Explainer+cls | Delta error |",
            "|---|---|---|---|---|---|"]
  for arch in archs:
    r = get(arch, "multi")
    if not r:
      continue
    e = r["metrics"]["error"]
    cls = r.get("explainer_cls_error")
    lines.append(f"| {NAMES[arch]} | {fmt(e['performer'], True)} | {fmt(e['explainer'], True)} | "
                 f"{fmt(e['delta'], True)} | {fmt(cls, True)} | "
                 f"{fmt(None if cls is None else cls - e['performer'], True)} |")
  lines += ["", "## Classification error, single-category averages (Table 7)", "",
            "| | Performer | Explainer | Explainer+cls |", "|---|---|---|---|"]
  for arch in archs:
    rows = [get(arch, "single", c) for c in categories if get(arch, "single", c)]
    if rows:
      lines.append(f"| {NAMES[arch]} | {fmt(mean([r['metrics']['error']['performer'] for r in rows]), True)}"
                   f" | {fmt(mean([r['metrics']['error']['explainer'] for r in rows]), True)} | "
                   f"{fmt(mean([r.get('explainer_cls_error') for r in rows]), True)} |")
  return "\n".join(lines) + "\n"


def main(_):
  from tf_explainer.data import synthetic
  work = _WORK_DIR.value
  os.makedirs(work, exist_ok=True)
  data = os.path.join(work, "data")
  if not os.path.exists(os.path.join(data, "images.txt")):
    synthetic.generate(data, _NUM_IMAGES.value, seed=0)
  results = []
  for arch in _ARCHS.value:
    if "multi" in _PROTOCOLS.value:
      results.append(run_one(work, data, arch, "multi", None))
    if "single" in _PROTOCOLS.value:
      for category in _CATEGORIES.value:
        results.append(run_one(work, data, arch, "single", category))
  report = {"settings": {k: v.value for k, v in ((f, flags.FLAGS[f]) for f in (
      "archs", "categories", "protocols", "num_images", "performer_epochs", "explainer_epochs",
      "width", "fc_units"))}, "experiments": results}
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
  app.run(main)
