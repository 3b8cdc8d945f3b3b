"""Why Explainer+cls classifies worse than the performer: training against held-out error.

The Explainer+cls baseline (`--objective=classification`) learns from the
true labels through the performer's frozen classifier. On the validation
split it has been worse than both the performer and the explainer. This
script measures, for the ablation study's AlexNet performer (trained on
`train_without_validation`, see `benchmarks/ablations.py`) and three seeds:

- the error on the images it trained on and on the validation split, after
  1, 5, 10, 20, 40 and 80 epochs (under- or over-training);
- the same at 40 epochs without the filter loss (the filter loss fighting
  the classification loss);
- the reconstruction explainer and the performer on the same images, and
  the explainer with 3x the epochs and/or 10x the learning rate (its own
  Delta-error: under-fitting or not).

Every finished run is kept, so the script resumes. Writes
`benchmarks/results/explainer_cls.json`:

    python -m benchmarks.explainer_cls --work_dir=runs/ablations
"""

import os
import statistics
import time

from absl import app, flags

from benchmarks import common

VARIANTS = {f"cls_e{e}": dict(objective="classification", epochs=e) for e in (1, 5, 10, 20, 40, 80)}
VARIANTS["cls_e40_lambda_f_zero"] = dict(
  objective="classification", epochs=40, lambda_f_divisor=float("inf")
)
VARIANTS["explainer_e40"] = dict(epochs=40)
# The reconstruction explainer's own Delta-error: too few steps, or too small a step?
VARIANTS["explainer_e120"] = dict(epochs=120)
VARIANTS["explainer_e40_lr1e-3"] = dict(epochs=40, learning_rate=1e-3)
VARIANTS["explainer_e120_lr1e-3"] = dict(epochs=120, learning_rate=1e-3)

_WORK_DIR = flags.DEFINE_string(
  "work_dir",
  "runs/ablations",
  "The ablation study's folder (its data and AlexNet performer are reused).",
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Explainer seeds.")
_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS), "Variants to run.")
_DETERMINISTIC = common.define_deterministic_flag(True)

TRAIN_SPLIT = "train_without_validation"


def one_run(work, data, performer_dir, variant, seed):
  """Errors of one model on its training images and on the validation split."""
  from tf_explainer import evaluate_lib
  from tf_explainer.train import explainer_lib

  folder = os.path.join(work, "alexnet", "cls_study", f"{variant}-seed{seed}")
  if not os.path.exists(os.path.join(folder, "explainer", "explainer.keras")):
    start = time.time()
    explainer_lib.run(
      mixed_precision="float32",  # the policy every recorded figure used
      performer_dir=performer_dir,
      dataset_dir=data,
      model_dir=os.path.join(folder, "explainer"),
      monitor_every=0,
      seed=seed,
      verbose=0,
      train_split=TRAIN_SPLIT,
      deterministic=_DETERMINISTIC.value,
      **VARIANTS[variant],
    )
    print(f"{variant} seed {seed}: trained in {time.time() - start:.0f} s", flush=True)
  errors = {}
  for split in (TRAIN_SPLIT, "validation"):
    out = os.path.join(folder, f"evaluation_{split}")
    metrics = evaluate_lib.run(
      explainer_dir=os.path.join(folder, "explainer"),
      dataset_dir=data,
      output_dir=out,
      split=split,
      verbose=0,
      make_figures=False,
      seed=seed,
      deterministic=_DETERMINISTIC.value,
    )
    errors[split] = metrics["error"]
  return errors


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from tf_explainer import io_utils

  work = _WORK_DIR.value
  data = os.path.join(work, "data")
  performer_dir = os.path.join(work, "alexnet", "performer")
  if not os.path.exists(os.path.join(performer_dir, "performer.keras")):
    raise app.UsageError(
      f"--work_dir={work} has no AlexNet performer: run "
      f"python -m benchmarks.ablations --archs=alexnet first."
    )
  seeds = [int(s) for s in _SEEDS.value]
  records = []
  for variant in _VARIANTS.value:
    runs = [one_run(work, data, performer_dir, variant, s) for s in seeds]
    record = {
      "variant": variant,
      "arch": "alexnet",
      "seeds": seeds,
      "arguments": {k: (str(v) if v == float("inf") else v) for k, v in VARIANTS[variant].items()},
    }
    for split, key in ((TRAIN_SPLIT, "train"), ("validation", "validation")):
      for who in ("performer", "explainer"):
        values = [r[split][who] for r in runs]
        record[f"{key}_error_{who}"] = statistics.mean(values)
        record[f"{key}_error_{who}_std"] = statistics.stdev(values) if len(values) > 1 else None
    records.append(record)
    print(
      f"{variant}: train error {record['train_error_explainer']:.3f} (performer "
      f"{record['train_error_performer']:.3f}), validation error "
      f"{record['validation_error_explainer']:.3f} (performer "
      f"{record['validation_error_performer']:.3f})",
      flush=True,
    )
    io_utils.write_json(
      "benchmarks/results/explainer_cls.json", {"machine": common.machine(), "results": records}
    )


if __name__ == "__main__":
  app.run(main)
