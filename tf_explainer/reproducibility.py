"""Seeds, op determinism, and the record of what a run ran on.

Same seed, same numbers: with `deterministic=True` TensorFlow's ops run their
deterministic kernels, every seed (Python, NumPy, TensorFlow, Keras) comes from
one integer, and the input pipelines draw their shuffles and augmentations as
functions of `(seed, epoch)` (see `tf_explainer.data.pipeline.epochs`). Runs
are then bit-identical on one machine and software stack; the record written
next to every result says which machine and stack that was.
"""

import os
import platform

import keras
import numpy as np
import tensorflow as tf

RECORD_FILE = "run.json"
# The CPU flags that change TensorFlow's kernels, and so its numerics and speed.
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def configure(seed, deterministic=True):
  """Seeds Python, NumPy, TensorFlow and Keras; turns on TensorFlow's op determinism.

  TensorFlow has no public switch back: once a run in a process asked for
  determinism, later runs in that process keep it.
  """
  keras.utils.set_random_seed(int(seed))
  if deterministic:
    tf.config.experimental.enable_op_determinism()


def cpu_info(path="/proc/cpuinfo"):
  """`{"model", "flags"}` of the first CPU, flags limited to `CPU_FLAGS`."""
  model, flags = platform.processor() or platform.machine(), []
  try:
    with open(path) as f:
      for line in f:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model in ("", platform.machine(), platform.processor()):
          model = value.strip()
        elif key == "flags":
          present = set(value.split())
          flags = [flag for flag in CPU_FLAGS if flag in present]
          break
  except OSError:
    pass
  return {"model": model, "flags": flags}


def write_record(directory, seed, deterministic):
  """Writes `run_record` as `<directory>/run.json`; returns the record."""
  from tf_explainer import io_utils  # pylint: disable=import-outside-toplevel

  record = run_record(seed, deterministic)
  io_utils.makedirs(directory)
  io_utils.write_json(os.path.join(directory, RECORD_FILE), record)
  return record


def run_record(seed, deterministic):
  """What a result depends on beyond its settings: seed, determinism, machine, versions."""
  from tf_explainer import __version__  # pylint: disable=import-outside-toplevel

  return {
    "seed": int(seed),
    "deterministic": bool(deterministic),
    "cpu": cpu_info(),
    "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
    # The dtype policy in force, whether chosen or picked by mixed_precision="auto".
    "dtype_policy": keras.config.dtype_policy().name,
    "versions": {
      "python": platform.python_version(),
      "tensorflow": tf.__version__,
      "keras": keras.__version__,
      "numpy": np.__version__,
      "tf_explainer": __version__,
    },
  }
