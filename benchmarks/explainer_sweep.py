"""Explainer settings against one trained performer: location instability, p, errors.

Every variant is a dict of `explainer_lib.run` arguments; each is trained for
every seed and evaluated on the test split (and, with `--train_split`, on the
training split, to tell information loss from overfitting). The performer is
not retrained, so the spread between seeds is the explainer's own.

    python -m benchmarks.explainer_sweep --performer_dir=runs/paper/alexnet-multi/performer \
        --dataset_dir=runs/paper/data --work_dir=runs/sweep --seeds=1,2,3 \
        --variants='{"paper": {}, "divisor_1": {"lambda_f_divisor": 1}}'
"""

import json
import os
import time

from absl import app, flags

from benchmarks import common

_PERFORMER_DIR = flags.DEFINE_string("performer_dir", None, "Trained performer.", required=True)
_DATASET_DIR = flags.DEFINE_string("dataset_dir", None, "Its dataset.", required=True)
_WORK_DIR = flags.DEFINE_string("work_dir", "runs/sweep", "Output folder.")
_VARIANTS = flags.DEFINE_string(
  "variants", '{"paper": {}}', "JSON: name -> explainer_lib.run arguments."
)
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Explainer seeds.")
_EPOCHS = flags.DEFINE_integer("epochs", 40, "Explainer epochs unless a variant sets them.")
_DETERMINISTIC = common.define_deterministic_flag(True)
_SPLIT = flags.DEFINE_enum(
  "split",
  "validation",
  ["validation", "test"],
  "validation (the "
  "default: settings are chosen there): explainers distil on the "
  "training split less the validation split and are measured on the "
  "validation split; the performer must have been trained so too "
  "(train_performer.py --train_split=train_without_validation).",
)
_ALSO_TRAINING = flags.DEFINE_boolean(
  "also_training_images", False, "Also evaluate on the images the explainer distilled on."
)


def main(_):
  from tf_explainer import evaluate_lib
  from tf_explainer.train import explainer_lib

  try:
    variants = json.loads(_VARIANTS.value)
  except json.JSONDecodeError as e:
    raise app.UsageError(f"--variants is not JSON: {e}")
  from tf_explainer.models import io as model_io

  _, spec = model_io.load_performer(_PERFORMER_DIR.value)
  train_split = "train_without_validation" if _SPLIT.value == "validation" else "train"
  if spec.train_split != train_split:
    raise app.UsageError(
      f"--split={_SPLIT.value} needs a performer trained with --train_split="
      f"{train_split}; the one in {_PERFORMER_DIR.value} used {spec.train_split}."
    )
  splits = (_SPLIT.value, train_split) if _ALSO_TRAINING.value else (_SPLIT.value,)
  results = []
  for name, kwargs in variants.items():
    for seed in (int(s) for s in _SEEDS.value):
      folder = os.path.join(_WORK_DIR.value, f"{name}-seed{seed}")
      start = time.time()
      explainer_lib.run(
        mixed_precision="float32",  # the policy every recorded figure used
        performer_dir=_PERFORMER_DIR.value,
        dataset_dir=_DATASET_DIR.value,
        model_dir=os.path.join(folder, "explainer"),
        seed=seed,
        monitor_every=0,
        verbose=0,
        **{
          "epochs": _EPOCHS.value,
          "deterministic": _DETERMINISTIC.value,
          "train_split": train_split,
          **kwargs,
        },
      )
      row = {"variant": name, "arguments": kwargs, "seed": seed}
      for split in splits:
        metrics = evaluate_lib.run(
          explainer_dir=os.path.join(folder, "explainer"),
          dataset_dir=_DATASET_DIR.value,
          output_dir=os.path.join(folder, f"evaluation-{split}"),
          split=split,
          verbose=0,
          make_figures=False,
          seed=seed,
          deterministic=_DETERMINISTIC.value,
        )
        li = metrics["location_instability"]
        row[split] = {
          "location_instability": li,
          "p": metrics["p"],
          "error": metrics["error"],
          "ratio": li["explainer"] / li["performer_top_conv"],
        }
      row["seconds"] = time.time() - start
      results.append(row)
      print(
        f"{name} seed {seed}: "
        + "; ".join(
          f"{s}: ratio {row[s]['ratio']:.3f}, p {row[s]['p']:.3f}, "
          f"Delta error {100 * row[s]['error']['delta']:.2f} points"
          for s in splits
        ),
        flush=True,
      )
  common.write(
    "explainer_sweep",
    {"performer_dir": _PERFORMER_DIR.value, "runs": results},
    out_dir=_WORK_DIR.value,
  )


if __name__ == "__main__":
  app.run(main)
