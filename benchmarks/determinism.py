"""What --deterministic costs, and whether same-seed runs are identical, at the demo's scale.

Trains the demo's performer (AlexNet, 1/4 width, 131 px) twice with
`--deterministic` and twice without, then from the first of them the
explainer, twice each way. Every run is its own process (TensorFlow's op
determinism cannot be switched off within one). Reports each run's training
time (the library call, imports excluded) and the largest weight difference
between the two runs of each setting.

    python -m benchmarks.determinism --work_dir=runs/determinism
"""

import json
import os
import subprocess
import sys
import time

from absl import app, flags

from benchmarks import common

_WORK_DIR = flags.DEFINE_string("work_dir", "runs/determinism", "Output folder.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 1200, "Synthetic images (the demo's).")
_PERFORMER_EPOCHS = flags.DEFINE_integer("performer_epochs", 5, "Performer epochs per run.")
_EXPLAINER_EPOCHS = flags.DEFINE_integer("explainer_epochs", 10, "Explainer epochs per run.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of every run.")
_CHILD = flags.DEFINE_string("child", None, "Internal: JSON arguments of one run.")

PERFORMER = dict(arch="alexnet", image_size=131, width=0.25, fc_units=256)


def child(arguments):
  """One training run in this process; its time goes to `<model_dir>/seconds.json`."""
  from tf_explainer import io_utils
  from tf_explainer.train import explainer_lib, performer_lib

  kind = arguments.pop("kind")
  start = time.perf_counter()
  if kind == "performer":
    performer_lib.run(verbose=0, **arguments)
  else:
    explainer_lib.run(verbose=0, monitor_every=0, **arguments)
  io_utils.write_json(
    os.path.join(arguments["model_dir"], "seconds.json"), {"seconds": time.perf_counter() - start}
  )


def launch(arguments):
  """Runs `child` in a new process, unless an earlier call finished it (the script resumes)."""
  done = os.path.join(arguments["model_dir"], "seconds.json")
  if not os.path.exists(done):
    result = subprocess.run(
      [sys.executable, os.path.abspath(__file__), f"--child={json.dumps(arguments)}"],
      capture_output=True,
      text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    if result.returncode:
      raise RuntimeError(f"run {arguments} failed:\n{result.stderr[-3000:]}")
  with open(done) as f:
    return json.load(f)["seconds"]


def largest_difference(first, second):
  import keras
  import numpy as np
  from tf_explainer import models, performers  # noqa: F401  (registers the layers)

  a = keras.saving.load_model(first, compile=False).get_weights()
  b = keras.saving.load_model(second, compile=False).get_weights()
  return max(float(np.max(np.abs(np.asarray(x, np.float64) - y))) for x, y in zip(a, b))


def main(_):
  if _CHILD.value:
    child(json.loads(_CHILD.value))
    return
  from tf_explainer.data import synthetic

  work = _WORK_DIR.value
  data = os.path.join(work, "data")
  if not os.path.exists(os.path.join(data, "images.txt")):
    synthetic.generate(data, _NUM_IMAGES.value, seed=0, progress=False)
  results = {
    "performer_epochs": _PERFORMER_EPOCHS.value,
    "explainer_epochs": _EXPLAINER_EPOCHS.value,
    "runs": {},
  }
  files = {}
  for kind, epochs, model_file in (
    ("performer", _PERFORMER_EPOCHS.value, "performer.keras"),
    ("explainer", _EXPLAINER_EPOCHS.value, "explainer.keras"),
  ):
    for deterministic in (True, False):
      name = f"{kind}-{'deterministic' if deterministic else 'default'}"
      seconds = []
      for repeat in range(2):
        model_dir = os.path.join(work, f"{name}-{repeat}")
        arguments = dict(
          kind=kind,
          model_dir=model_dir,
          epochs=epochs,
          seed=_SEED.value,
          deterministic=deterministic,
          mixed_precision="float32",  # the policy the recorded figures used
        )
        if kind == "performer":
          arguments.update(dataset_dir=data, **PERFORMER)
        else:
          arguments.update(
            performer_dir=os.path.dirname(files["performer-deterministic"][0]), dataset_dir=data
          )
        seconds.append(launch(arguments))
        files.setdefault(name, []).append(os.path.join(model_dir, model_file))
      difference = largest_difference(*files[name])
      results["runs"][name] = {
        "seconds": seconds,
        "largest_weight_difference": difference,
        "identical": difference == 0.0,
      }
      print(
        f"{name}: {seconds[0]:.1f} s and {seconds[1]:.1f} s; largest weight difference "
        f"between the two runs {difference:.3g}",
        flush=True,
      )
    det = results["runs"][f"{kind}-deterministic"]["seconds"]
    default = results["runs"][f"{kind}-default"]["seconds"]
    results[f"{kind}_time_ratio"] = min(det) / min(default)
    print(f"{kind}: --deterministic takes {results[f'{kind}_time_ratio']:.2f}x the time")
  common.write("determinism", results)


if __name__ == "__main__":
  app.run(main)
