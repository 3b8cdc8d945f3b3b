"""Images per second of the synthetic dataset generator (import time excluded).

python -m benchmarks.synthetic_generation --num_images=2000
"""

import os
import tempfile
import time

from absl import app, flags

from benchmarks import common

_NUM_IMAGES = flags.DEFINE_integer("num_images", 2000, "Images per run.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 128, "Image side.")

_DETERMINISTIC = common.define_deterministic_flag(False)


def main(_):
  import keras  # noqa: F401  (imported before timing: generate() uses its progress bar)
  from tf_explainer import reproducibility

  reproducibility.configure(0, _DETERMINISTIC.value)
  from tf_explainer.data import synthetic

  results = []
  for workers in (1, None):
    out = os.path.join(tempfile.mkdtemp(), "data")
    start = time.perf_counter()
    synthetic.generate(
      out, _NUM_IMAGES.value, _IMAGE_SIZE.value, progress=False, num_workers=workers
    )
    elapsed = time.perf_counter() - start
    row = {
      "workers": workers or os.cpu_count(),
      "images": _NUM_IMAGES.value,
      "image_size": _IMAGE_SIZE.value,
      "seconds": elapsed,
      "images_per_second": _NUM_IMAGES.value / elapsed,
    }
    print(f"{row['workers']} worker(s): {row['images_per_second']:.0f} images/s")
    results.append(row)
  common.write("synthetic_generation", results)


if __name__ == "__main__":
  app.run(main)
