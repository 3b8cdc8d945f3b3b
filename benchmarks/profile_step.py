"""Where the full-size explainer step spends its time: a TensorFlow profiler trace, summed.

Builds the paper-scale explainer of `benchmarks.paper_scale` (VGG-16 at 224 px,
target relu5_2 14 x 14 x 512, fc 4096; random weights), runs its training step
under `tf.profiler.experimental` and sums the op time of the trace (the
`tf_Compute` threads of the host plane; ops on the two cores overlap, so shares
are of the summed op time, not of the wall time) by op type and by part of the
step: the filter loss (forward and gradient), the optimizer, casts, layout changes
(transposes, reshapes, concatenations, pads) and the rest. Writes
`benchmarks/results/profile_step_<arch>_<policy>.json`; the trace stays in `--trace_dir` for
TensorBoard's Profile tab.

    python -m benchmarks.profile_step
    python -m benchmarks.profile_step --policy=mixed_bfloat16 --arch=alexnet

`--steps` (profiled steps, after two warm-up steps) and `--batch_size` are
`benchmarks.paper_scale`'s flags.
"""

import collections
import glob
import os
import time

from absl import app, flags

from benchmarks import common, paper_scale

_ARCH = flags.DEFINE_enum("arch", "vgg16", sorted(paper_scale.SIZES), "Performer architecture.")
_POLICY = flags.DEFINE_enum("policy", "float32", list(paper_scale.POLICIES), "Keras dtype policy.")
_JIT = flags.DEFINE_boolean(
  "jit_compile", False, "XLA (its fused clusters hide the ops, so off by default)."
)
_TRACE_DIR = flags.DEFINE_string("trace_dir", "runs/profile_step", "Where the trace goes.")

LAYOUT = {
  "Transpose",
  "Reshape",
  "ConcatV2",
  "Pack",
  "Unpack",
  "Pad",
  "Tile",
  "Slice",
  "StridedSlice",
}
SKIP = ("ExecutorState::Process", "MemoryAllocation", "MemoryDeallocation", "ThreadpoolListener")


def op_times(path):
  """`{(op name, op type): seconds}` summed over the `tf_Compute` threads of a trace."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2

  space = xplane_pb2.XSpace()
  with open(path, "rb") as f:
    space.ParseFromString(f.read())
  times = collections.Counter()
  for plane in space.planes:
    if plane.name != "/host:CPU":
      continue
    for line in plane.lines:
      if not line.name.startswith("tf_Compute"):
        continue
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name
        if name.startswith(SKIP) or ":" not in name:
          continue
        op_name, op_type = name.rsplit(":", 1)
        times[(op_name, op_type.lstrip("_").replace("Mkl", "").replace("Fused", ""))] += (
          event.duration_ps / 1e12
        )
  return times


def part_of(op_name, op_type):
  """The part of the step an op belongs to."""
  if "filter_loss" in op_name:
    return "filter loss"
  if "ApplyAdam" in op_type or "adam" in op_name.lower() or "optimizer" in op_name.lower():
    return "optimizer"
  if op_type == "Cast":
    return "casts"
  if op_type in LAYOUT:
    return "layout"
  if "Conv2D" in op_type or "MatMul" in op_type or op_type == "Einsum":
    return "convolutions and matmuls"
  return "other"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  import keras
  import tensorflow as tf

  from tf_explainer import performers, reproducibility
  from tf_explainer.losses.filter_loss import filter_loss

  reproducibility.configure(0, False)
  keras.mixed_precision.set_global_policy(_POLICY.value)
  size = paper_scale.SIZES[_ARCH.value]
  model, spec = performers.build_performer(_ARCH.value, 6, size, width=1.0, fc_units=4096)
  explainer, maps, targets = paper_scale.step_inputs(model, spec, paper_scale._BATCH.value)
  step, data = paper_scale.train_step(explainer.config, maps, targets, _JIT.value, filter_loss)
  for _ in range(2):
    float(step(data)["loss"])
  log_dir = os.path.join(_TRACE_DIR.value, f"{_ARCH.value}-{_POLICY.value}")
  tf.io.gfile.makedirs(log_dir)
  tf.profiler.experimental.start(log_dir)
  start = time.perf_counter()
  for _ in range(paper_scale._STEPS.value):
    float(step(data)["loss"])
  wall = (time.perf_counter() - start) / paper_scale._STEPS.value
  tf.profiler.experimental.stop()
  traces = sorted(glob.glob(os.path.join(log_dir, "**", "*.xplane.pb"), recursive=True))
  times = op_times(traces[-1])
  total = sum(times.values())
  parts, types = collections.Counter(), collections.Counter()
  for (op_name, op_type), seconds in times.items():
    parts[part_of(op_name, op_type)] += seconds
    types[op_type] += seconds
  keras.mixed_precision.set_global_policy("float32")
  share = lambda counter: {k: v / total for k, v in counter.most_common()}  # noqa: E731
  results = {
    "arch": _ARCH.value,
    "policy": _POLICY.value,
    "jit_compile": _JIT.value,
    "batch_size": paper_scale._BATCH.value,
    "step_seconds_profiled": wall,
    "op_seconds_per_step": total / paper_scale._STEPS.value,
    "parts": share(parts),
    "op_types": {k: v for k, v in list(share(types).items())[:15]},
    "filter_loss_ops": {
      f"{t} {n}": s / total for (n, t), s in times.most_common() if part_of(n, t) == "filter loss"
    },
  }
  results["filter_loss_ops"] = dict(list(results["filter_loss_ops"].items())[:10])
  print(f"{_ARCH.value} {_POLICY.value} step (profiled): {wall:.2f} s")
  for name, value in results["parts"].items():
    print(f"  {name}: {100 * value:.1f}% of the op time")
  for name, value in results["op_types"].items():
    print(f"  {name}: {100 * value:.1f}%")
  common.write(f"profile_step_{_ARCH.value}_{_POLICY.value}", results)


if __name__ == "__main__":
  app.run(main)
