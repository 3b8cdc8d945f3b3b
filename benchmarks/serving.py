"""Latency and throughput of the exported explainer against a performer-only SavedModel.

Both are exported from the same explainer directory and loaded back with
`tf.saved_model.load` (TF Serving runs the same graph); each signature call is
timed at batch 1 and 32, and the ratio is taken within this one run.

    python -m benchmarks.serving --explainer_dir=runs/demo/explainer
"""

import os
import tempfile
import time

from absl import app, flags

from benchmarks import common

_EXPLAINER_DIR = flags.DEFINE_string(
  "explainer_dir", "runs/demo/explainer", "A trained explainer (the demo's by default)."
)
_REPEATS = flags.DEFINE_integer("repeats", 30, "Timed calls per batch size.")


def time_calls(function, batch, size, repeats):
  import numpy as np
  import tensorflow as tf

  images = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)), tf.float32)
  for _ in range(3):
    function(images=images)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    out = function(images=images)
    [v.numpy() for v in out.values()]
    times.append(time.perf_counter() - start)
  times.sort()
  median = times[len(times) // 2]
  return {
    "batch": batch,
    "median_ms": 1e3 * median,
    "p90_ms": 1e3 * times[int(0.9 * len(times))],
    "images_per_second": batch / median,
  }


_DETERMINISTIC = common.define_deterministic_flag(False)


def main(_):
  import tensorflow as tf
  from tf_explainer import reproducibility

  reproducibility.configure(0, _DETERMINISTIC.value)
  from tf_explainer import export_lib
  from tf_explainer.models import io as model_io

  # The signatures check the size in the graph and declare none: take it from the performer.
  size = model_io.load_explainer(_EXPLAINER_DIR.value)[2].image_size
  base = tempfile.mkdtemp()
  results = {"explainer_dir": os.path.abspath(_EXPLAINER_DIR.value)}
  for name, performer_only in (("explainer", False), ("performer", True)):
    path = export_lib.run(
      explainer_dir=_EXPLAINER_DIR.value,
      export_base=os.path.join(base, name),
      version=1,
      performer_only=performer_only,
    )
    loaded = tf.saved_model.load(path)
    signature = loaded.signatures["serving_default"]
    results[name] = [time_calls(signature, b, size, _REPEATS.value) for b in (1, 32)]
  for i, batch in enumerate((1, 32)):
    e, p = results["explainer"][i], results["performer"][i]
    ratio = e["median_ms"] / p["median_ms"]
    results[f"latency_ratio_batch_{batch}"] = ratio
    print(
      f"batch {batch}: explainer {e['median_ms']:.2f} ms ({e['images_per_second']:.0f} img/s),"
      f" performer {p['median_ms']:.2f} ms ({p['images_per_second']:.0f} img/s), "
      f"ratio {ratio:.2f}"
    )
  common.write("serving", results)


if __name__ == "__main__":
  app.run(main)
