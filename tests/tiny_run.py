"""A tiny dataset, performer and explainer, built once per test process.

Sizes are the smallest the code allows so that pipeline tests stay fast:
36 synthetic images at 64 px, AlexNet at 1/8 width and 115 px (relu4 6 x 6 x 48).
"""

import functools
import os
import tempfile

ROOT = None


@functools.lru_cache(maxsize=None)
def paths():
  """Builds everything on first use; returns a dict of folders."""
  from tf_explainer.data import synthetic
  from tf_explainer.train import explainer_lib, performer_lib

  root = tempfile.mkdtemp(prefix="tf_explainer_tiny_")
  result = {name: os.path.join(root, name) for name in ("data", "performer", "explainer")}
  synthetic.generate(result["data"], 36, image_size=64, seed=0, progress=False)
  performer_lib.run(dataset_dir=result["data"], model_dir=result["performer"], **PERFORMER)
  _, result["explainer_metrics"] = explainer_lib.run(
    performer_dir=result["performer"],
    dataset_dir=result["data"],
    model_dir=result["explainer"],
    **EXPLAINER,
  )
  result["root"] = root
  return result


PERFORMER = dict(
  arch="alexnet", image_size=115, width=0.125, fc_units=16, epochs=1, batch_size=8, verbose=0
)
EXPLAINER = dict(epochs=2, batch_size=8, verbose=0)
