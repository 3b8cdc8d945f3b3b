"""Strategies and precision policies from flag strings."""

import functools
import os

import keras
import tensorflow as tf

from tf_explainer.configs import PRECISIONS, STRATEGIES  # noqa: F401 (this module's names)

# What `auto` picks can be pinned (the test suite pins float32 so that no test depends on
# the CPU it runs on).
AUTO_PRECISION_ENV = "TF_EXPLAINER_AUTO_PRECISION"
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(path="/proc/cpuinfo"):
  """The CPU's feature flags (empty where /proc/cpuinfo is not there)."""
  try:
    with open(path) as f:
      for line in f:
        if line.startswith("flags"):
          return set(line.split(":", 1)[1].split())
  except OSError:
    pass
  return set()


def bf16_units(flags=None):
  """The CPU's bfloat16 units (`amx_bf16`, `avx512_bf16`) present, or an empty list."""
  flags = cpu_flags() if flags is None else flags
  return [f for f in _BF16_CPU_FLAGS if f in flags]


def auto_precision(flags=None, gpus=None):
  """`(policy, reason)` that `mixed_precision="auto"` picks on this machine.

  mixed_bfloat16 on GPUs that have bfloat16 (compute capability 8.0 or more) and on
  CPUs with AMX or AVX512_BF16; float32 elsewhere (without bfloat16 units,
  bfloat16 was slower than float32 in docs/research-log.md).
  """
  forced = os.environ.get(AUTO_PRECISION_ENV)
  if forced:
    if forced not in PRECISIONS[1:]:
      raise ValueError(f"{AUTO_PRECISION_ENV}={forced}: expected one of {PRECISIONS[1:]}.")
    return forced, f"{AUTO_PRECISION_ENV}={forced}"
  gpus = tf.config.list_physical_devices("GPU") if gpus is None else gpus
  if gpus:
    capabilities = [
      tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)) for g in gpus
    ]
    if all(tuple(c) >= (8, 0) for c in capabilities):
      return "mixed_bfloat16", f"GPUs with bfloat16 (compute capability {min(capabilities)})"
    return "float32", "a GPU without bfloat16"
  units = bf16_units(flags)
  if units:
    return "mixed_bfloat16", f"this CPU has {' and '.join(u.upper() for u in units)}"
  return "float32", "this CPU has no bfloat16 units"


def auto_jit(policy, gpus=None, deterministic=False):
  """Whether to compile the explainer's step with XLA under `policy`.

  On a CPU, XLA speeds float32 up and removes the bfloat16 gain
  (docs/research-log.md): on for float32 only. On GPUs: on. Never with
  `deterministic`: Keras compiles nothing with XLA under TensorFlow's op
  determinism (it would turn it off with a warning).
  """
  if deterministic:
    return False
  gpus = tf.config.list_physical_devices("GPU") if gpus is None else gpus
  return bool(gpus) or policy == "float32"


def get_strategy(name):
  """`tf.distribute` strategy for `--strategy`.

  `mirrored` uses every local GPU, or every logical CPU device when there is
  no GPU; `multi_worker` reads the cluster from `TF_CONFIG`.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in devices])
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise ValueError(f"`strategy` must be one of {STRATEGIES}, got {name!r}.")


def set_precision(name, verbose=0):
  """Sets Keras' global dtype policy for `mixed_precision` (losses stay float32).

  `"auto"` resolves with `auto_precision`. Returns the policy set; with
  `verbose`, prints the choice and its reason.
  """
  if name not in PRECISIONS:
    raise ValueError(f"`mixed_precision` must be one of {PRECISIONS}, got {name!r}.")
  reason = "chosen"
  if name == "auto":
    name, reason = auto_precision()
    reason = f"auto: {reason}"
  keras.mixed_precision.set_global_policy(name)
  if verbose:
    print(f"Precision: {name} ({reason}).", flush=True)
  return name


def keeps_global_policy(run):
  """`run`, with Keras' global dtype policy put back as it was when `run` returns or raises.

  A training run sets the policy it trains under (`set_precision`); without this, an
  evaluation or a model built afterwards in the same process would run under it too,
  unlike the same step in a fresh process.
  """

  @functools.wraps(run)
  def wrapped(*args, **kwargs):
    policy = keras.mixed_precision.global_policy()
    try:
      return run(*args, **kwargs)
    finally:
      keras.mixed_precision.set_global_policy(policy)

  return wrapped


def check_global_batch(batch_size, strategy):
  replicas = strategy.num_replicas_in_sync
  if batch_size % replicas:
    raise ValueError(
      f"batch_size={batch_size} is not divisible by the {replicas} replicas of the strategy."
    )
