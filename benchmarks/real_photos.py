"""The real-photo experiment: an ImageNet VGG-16 fine-tuned on faces, and its explainers.

For every performer variant and seed: convert the Face Disguise photos 1-1000
(once, `benchmarks.face_disguise`), fine-tune the performer, distil each
explainer variant, evaluate it, and time every step. Finished steps are kept,
so a stopped run resumes where it was. A new explainer variant starts with hard
links to the feature caches of its performer's other variants, so that one
reading the same layer skips the caching pass. On `--split=validation` everything
trains on the training split less the validation split and is measured on the
validation split (for choosing settings); `--split=test` is for the chosen
settings only.

    python -m benchmarks.real_photos --source_dir=<checkout> --work_dir=runs/faces/val \\
        --seeds=0,1,2 --variants='{"default": {}, "no_filter_loss": {"lambda_f_divisor": 1e12}}'

Writes `<work_dir>/results.json` (every run's figures and times) and prints, per
(performer, explainer) variant, the means over seeds of part tracking, location
instability against the performer's top conv, p and Delta-error.
"""

import json
import os

from absl import app, flags

from benchmarks import common, face_disguise
from benchmarks.real_photos_lib import run_one, timed, table

# --source_dir, the dataset's checkout, is the converter's flag.
_SOURCE_DIR = face_disguise._SOURCE_DIR
_DATA_DIR = flags.DEFINE_string("data_dir", None, "The converted dataset; default <work_dir>/data.")
_WORK_DIR = flags.DEFINE_string("work_dir", "runs/faces", "Output folder.")
_SPLIT = flags.DEFINE_enum("split", "validation", ["validation", "test"], "Where to measure.")
_TRAIN_ON = flags.DEFINE_enum(
  "train_on",
  None,
  ["train", "train_without_validation"],
  "What the models train on; default: the training split less the validation split on "
  "--split=validation, the whole training split on --split=test. With --split=test "
  "--train_on=train_without_validation, the models chosen on validation are measured once "
  "on the test split, unchanged.",
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Performer and explainer seeds.")
_PERFORMERS = flags.DEFINE_string(
  "performers",
  '{"imagenet": {}}',
  "JSON: name -> train_performer settings over the defaults of --arch=vgg16 --weights=imagenet.",
)
_VARIANTS = flags.DEFINE_string(
  "variants", '{"default": {}}', "JSON: name -> train_explainer settings over its defaults."
)
_TABLES_ONLY = flags.DEFINE_boolean("tables_only", False, "Print the tables of finished runs.")


def main(_):
  work = _WORK_DIR.value
  data = _DATA_DIR.value or os.path.join(work, "data")
  performers = json.loads(_PERFORMERS.value)
  variants = json.loads(_VARIANTS.value)
  seeds = [int(s) for s in _SEEDS.value]
  records, times = [], {}
  train_split = _TRAIN_ON.value or (
    "train_without_validation" if _SPLIT.value == "validation" else "train"
  )
  if not _TABLES_ONLY.value and not os.path.exists(os.path.join(data, "images.txt")):
    if not _SOURCE_DIR.value:
      raise app.UsageError(f"--source_dir is needed to convert the photos into {data}.")
    timed(times, "convert", face_disguise.convert, source_dir=_SOURCE_DIR.value, out_dir=data)
  for performer_name, performer_args in performers.items():
    for seed in seeds:
      for variant, explainer_args in variants.items():
        if _TABLES_ONLY.value:
          name = "record.json" if _SPLIT.value == "validation" else f"record-{_SPLIT.value}.json"
          path = os.path.join(work, f"{performer_name}-s{seed}", variant, name)
          if os.path.exists(path):
            records.append(json.load(open(path)))
          continue
        records.append(
          run_one(
            data,
            work,
            performer_name,
            performer_args,
            variant,
            explainer_args,
            seed,
            _SPLIT.value,
            train_split,
          )
        )
  text = table(records)
  print(text)
  common.write(
    "real_photos_" + _SPLIT.value,
    {"runs": records, "convert_seconds": times.get("convert"), "table": text},
    out_dir=work,
  )


if __name__ == "__main__":
  app.run(main)
