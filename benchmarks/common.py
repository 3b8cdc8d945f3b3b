"""Shared helpers of the benchmark scripts: machine description and result files."""

import dataclasses
import datetime
import json
import os
import subprocess

from absl import flags

from tf_explainer import configs, settings


def define_deterministic_flag(default):
  """The benchmark's `--deterministic` flag (TensorFlow's deterministic kernels)."""
  return flags.DEFINE_boolean(
    "deterministic",
    default,
    "TensorFlow's deterministic kernels: the same seed gives the same numbers on one machine.",
  )


# The flags of define_performer_flags that set how a performer trains, each named
# performer_<its train_performer.py flag>.
RECIPE_FLAGS = (
  "performer_learning_rate",
  "performer_learning_rate_schedule",
  "performer_zoom",
  "performer_warmup_epochs",
  "performer_label_smoothing",
  "performer_freeze_through",
)


@dataclasses.dataclass
class _PerformerRecipe(settings.Settings):
  """The performer program's own training settings of `RECIPE_FLAGS`, as a benchmark's
  `--performer_<name>` flags (nested, not copied: their checks and help are the program's)."""

  performer: configs.PerformerTraining = settings.group(
    configs.PerformerTraining,
    prefix="performer_",
    only=tuple(name.removeprefix("performer_") for name in RECIPE_FLAGS) + ("synthetic_dir",),
    defaults={"learning_rate": 1e-3},  # recorded in every result: explicit
    helps={
      "synthetic_dir": "With --performer_weights=synthetic: the folder of the pretrained "
      "weights and their model card (a pretraining's --weights_dir), to measure them before "
      "shipping; default the package's shipped weights.",
    },
  )


def define_performer_flags():
  """`--performer_weights=scratch|synthetic`, `--performer_synthetic_dir` and the recipe
  flags of a benchmark's performers (`RECIPE_FLAGS`; read them with `performer_recipe`):
  the performer program's settings of those names (`configs.PerformerTraining`).

  Returns:
    the flag holders of `--performer_weights`, `--performer_learning_rate`,
    `--performer_learning_rate_schedule` and `--performer_zoom`.
  """
  weights = flags.DEFINE_enum(
    "performer_weights",
    "scratch",
    ["scratch", "synthetic"],
    "Where the performers start: "
    "from scratch, or from the weights shipped with the package (pretrained on the synthetic "
    "corpus, fine-tuned here; see tf_explainer.performers.zoo).",
  )
  settings.define_flags(_PerformerRecipe, config=False)
  flags.register_multi_flags_validator(
    ["performer_weights", "performer_synthetic_dir"],
    lambda v: v["performer_synthetic_dir"] is None or v["performer_weights"] == "synthetic",
    "--performer_synthetic_dir applies only to --performer_weights=synthetic.",
  )
  holder = lambda name: flags.FlagHolder(flags.FLAGS, flags.FLAGS[name])  # noqa: E731
  return (
    weights,
    holder("performer_learning_rate"),
    holder("performer_learning_rate_schedule"),
    holder("performer_zoom"),
  )


def validation_split(dataset_dir):
  """`(dataset, training images less the validation split, validation split)` of a
  CUB-layout root: the images a benchmark that chooses nothing on test images uses."""
  from tf_explainer import data as data_lib

  dataset = data_lib.read_part_dataset(dataset_dir)
  train = data_lib.select(dataset, "train_without_validation")
  return dataset, train, data_lib.select(dataset, "validation")


def regression_accuracies(train_x, train_y, test_x, test_y, classes, epochs=500, seeds=(0, 1, 2)):
  """Accuracies on `test_x`, one per seed, of a softmax regression fitted to standardised
  `train_x` (full-batch Adam 1e-2 for `epochs`): how far fixed features separate the classes."""
  import keras

  mean, std = train_x.mean(0), train_x.std(0) + 1e-6
  scores = []
  for seed in seeds:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
      [keras.Input((train_x.shape[1],)), keras.layers.Dense(classes, activation="softmax")]
    )
    model.compile(
      keras.optimizers.Adam(1e-2),
      "sparse_categorical_crossentropy",
      metrics=["accuracy"],
    )
    model.fit((train_x - mean) / std, train_y, batch_size=len(train_x), epochs=epochs, verbose=0)
    scores.append(float(model.evaluate((test_x - mean) / std, test_y, verbose=0)[1]))
  return scores


def matmul_flops_per_second(dtype, n=2048, repeats=10):
  """FLOP/s of an `n x n` matmul in `dtype`: the machine's reference for a benchmark."""
  import time

  import tensorflow as tf

  a = tf.cast(tf.random.normal((n, n)), dtype)
  b = tf.cast(tf.random.normal((n, n)), dtype)
  f = tf.function(lambda a, b: tf.matmul(a, b))
  f(a, b).numpy()
  start = time.perf_counter()
  for _ in range(repeats):
    out = f(a, b)
  out.numpy()
  return 2 * n**3 * repeats / (time.perf_counter() - start)


def performer_start(flag):
  """The `weights` and `synthetic_dir` arguments of `performer_lib.run` for
  `--performer_weights` and `--performer_synthetic_dir`."""
  if flag.value == "scratch":
    return {"weights": None}
  return {"weights": flag.value, "synthetic_dir": flags.FLAGS.performer_synthetic_dir}


def performer_recipe():
  """The `performer_lib.run` arguments of the recipe flags (`RECIPE_FLAGS`)."""
  return {name.removeprefix("performer_"): flags.FLAGS[name].value for name in RECIPE_FLAGS}


def performer_weights_sha256(arch, flag):
  """The SHA-256 of the pretrained weights the performers of `arch` start from (their
  model card's), or None from scratch: which weights a record was made with."""
  if flag.value == "scratch":
    return None
  from tf_explainer.performers import zoo

  return zoo.card(arch, flags.FLAGS.performer_synthetic_dir)["sha256"]


def commit():
  """The checkout's commit (`+` if it has changes), or None outside a git checkout."""
  try:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
      ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
  except OSError:
    return None
  if head.returncode:
    return None
  return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def machine(seed=None):
  """What the numbers were measured on: cores, date, CPU, versions, seed and determinism."""
  from tf_explainer import reproducibility

  deterministic = "deterministic" in flags.FLAGS and flags.FLAGS["deterministic"].value
  info = {"cores": os.cpu_count(), "date": datetime.date.today().isoformat(), "commit": commit()}
  info.update(reproducibility.run_record(seed or 0, bool(deterministic)))
  return info


def write(name, results, out_dir="benchmarks/results"):
  """Writes `<out_dir>/<name>.json` and returns its path."""
  os.makedirs(out_dir, exist_ok=True)
  path = os.path.join(out_dir, f"{name}.json")
  with open(path + ".tmp", "w") as f:
    json.dump({"machine": machine(), "results": results}, f, indent=2)
  os.replace(path + ".tmp", path)
  print(f"Saved {path}")
  return path
