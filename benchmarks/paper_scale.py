"""Paper-scale speed: the full-size explainer step, the feature-cache pass and serving.

At the paper's sizes (AlexNet at 227 px, target relu4 13 x 13 x 384; VGG-16 at
224 px, target relu5_2 14 x 14 x 512; fc layers of 4096; random weights, since
only time is measured) it times, per dtype policy:

* a 2048 x 2048 matmul (the machine's reference, per dtype);
* the feature-cache pass (the performer's forward pass to the target, fc and
  logits, batch 16), in images/s;
* the explainer's training step at batch 32, with XLA on and off;
* the same step without the filter loss (its share of the step);
* the serving function of the export (`export_lib.ServingModule`, the
  `tf.function` the SavedModel holds), one image per request.

FLOP/s are counted from the layers (2 multiply-adds per weight use; a training
step is three forward passes) and given as a fraction of the same run's matmul
in the same dtype. Writes `benchmarks/results/paper_scale.json`.

    python -m benchmarks.paper_scale
    python -m benchmarks.paper_scale --archs=vgg16 --steps=5
"""

import resource
import statistics
import time

from absl import app, flags

from benchmarks import common

_ARCHS = flags.DEFINE_list("archs", ["alexnet", "vgg16"], "Performers at the paper's sizes.")
_STEPS = flags.DEFINE_integer("steps", 3, "Timed explainer steps per configuration.")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Explainer batch size.")
SIZES = {"alexnet": 227, "vgg16": 224}
POLICIES = ("float32", "mixed_bfloat16")


def layer_flops(model):
  """Forward FLOPs per image of the Conv2D and Dense layers of `model`."""
  import keras

  total = 0
  for layer in model.layers:
    if isinstance(layer, keras.layers.Conv2D):
      _, h, w, c_out = layer.output.shape
      kh, kw = layer.kernel_size
      c_in = layer.input.shape[-1] // layer.groups
      total += 2 * kh * kw * c_in * c_out * h * w
    elif isinstance(layer, keras.layers.Dense):
      total += 2 * layer.input.shape[-1] * layer.units
  return total


def explainer_flops(config):
  """Forward FLOPs per image of an explainer: its 3x3 convs and its decoder."""
  import math

  size, _, depth = config.target_shape
  width = config.width
  # The first conv of each track reads the target map (D -> W), the others W -> W.
  same = config.interp_layers - 1 + config.ordin_layers - 1
  total = 2 * 9 * size * size * (2 * depth * width + same * width * width)
  pooled = size
  if config.pool:
    k, s = config.pool["pool_size"][0], config.pool["strides"][0]
    pooled = (size - k) // s + 1 if config.pool["padding"] == "valid" else math.ceil(size / s)
  inputs = pooled * pooled * width
  for units in config.fc_sizes:
    total += 2 * inputs * units
    inputs = units
  return total


def timed(fn, steps):
  fn()  # compile and warm up
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def peak_memory_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_inputs(model, spec, batch):
  """`(explainer, maps, targets)`: the full-size explainer (untrained) and one random batch."""
  import numpy as np
  import tensorflow as tf

  from tf_explainer.train import explainer_lib

  explainer = explainer_lib.build_for_performer(model, spec, initialize=False)
  config = explainer.config
  rng = np.random.default_rng(0)
  maps = tf.constant(rng.random((batch,) + config.target_shape).astype(np.float32) * 3)
  targets = {
    n: tf.constant(rng.random((batch, u)).astype(np.float32))
    for n, u in zip(config.fc_names, config.fc_sizes)
  }
  targets["category"] = tf.constant(rng.integers(0, 6, batch).astype(np.int32))
  return explainer, maps, targets


def train_step(config, maps, targets, jit, filter_loss_fn):
  """`(step, data)`: a compiled explainer training step (under the global policy) and its input."""
  import keras
  import tensorflow as tf

  from tf_explainer.models import Explainer
  from tf_explainer.train import trainer
  from tf_explainer.optimizers import FusedAdam

  keras.utils.set_random_seed(0)
  model_t = trainer.ExplainerTrainer(Explainer(config), filter_loss_fn=filter_loss_fn)
  model_t.set_reconstruction_weights([1.0] * len(config.fc_sizes))
  model_t.compile(
    optimizer=FusedAdam(1e-4),
    gate_optimizer=FusedAdam(1e-2),
    jit_compile=jit,
  )
  model_t.make_train_function()
  return model_t.train_function, iter(tf.data.Dataset.from_tensors((maps, targets)).repeat())


def measure_arch(arch, matmul, steps, batch):
  import keras
  import tensorflow as tf

  from tf_explainer import export_lib, performers
  from tf_explainer.losses.filter_loss import filter_loss

  size = SIZES[arch]
  result = {"image_size": size}
  images = tf.random.uniform((16, size, size, 3), 0, 255)
  for policy in POLICIES:
    keras.mixed_precision.set_global_policy(policy)
    model, spec = performers.build_performer(arch, 6, size, width=1.0, fc_units=4096)
    probe = tf.function(performers.feature_model(model, spec))
    seconds = timed(lambda: tf.nest.map_structure(lambda t: t.numpy(), probe(images)), 2)
    flops = layer_flops(model) * 16
    result[f"cache_pass_{policy}_images_per_s"] = 16 / seconds
    result[f"cache_pass_{policy}_fraction_of_matmul"] = flops / seconds / matmul[policy]
    print(f"{arch} cache pass {policy}: {16 / seconds:.1f} images/s", flush=True)

    explainer, maps, targets = step_inputs(model, spec, batch)
    config = explainer.config
    step_flops = 3 * explainer_flops(config) * batch
    result["explainer_step_gflop"] = step_flops / 1e9
    for jit in (True, False):
      for loss_fn, tag in ((filter_loss, ""), (None, "_without_filter_loss")):
        if loss_fn is None and (policy != "float32" or not jit):
          continue
        fn = filter_loss if loss_fn else (lambda x, t, **k: 0.0 * tf.reduce_sum(x, axis=[0, 1, 2]))
        step, data = train_step(config, maps, targets, jit, fn)
        seconds = timed(lambda: float(step(data)["loss"]), steps)
        key = f"step_{policy}_{'xla' if jit else 'no_xla'}{tag}"
        result[f"{key}_seconds"] = seconds
        result[f"{key}_fraction_of_matmul"] = step_flops / seconds / matmul[policy]
        print(
          f"{arch} explainer step {key}: {seconds:.2f} s, "
          f"{step_flops / seconds / 1e9:.0f} GFLOP/s "
          f"({step_flops / seconds / matmul[policy]:.2f} of the matmul)",
          flush=True,
        )
    if policy == "float32":
      module = export_lib.ServingModule(model, spec, explainer)
      one = tf.random.uniform((1, size, size, 3), 0, 255)
      result["serving_float32_seconds_per_image"] = timed(
        lambda: module.serve(one)["part_maps"].numpy(), 5
      )
      print(
        f"{arch} serving (float32, 1 image): "
        f"{result['serving_float32_seconds_per_image'] * 1000:.0f} ms",
        flush=True,
      )
    result[f"peak_memory_mb_after_{policy}"] = peak_memory_mb()
  keras.mixed_precision.set_global_policy("float32")
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  import tensorflow as tf

  from tf_explainer import reproducibility
  from tf_explainer.train import distribute

  reproducibility.configure(0, False)
  matmul = {
    "float32": common.matmul_flops_per_second(tf.float32),
    "mixed_bfloat16": common.matmul_flops_per_second(tf.bfloat16),
  }
  print(
    f"matmul 2048^2: float32 {matmul['float32'] / 1e9:.0f} GFLOP/s, bfloat16 "
    f"{matmul['mixed_bfloat16'] / 1e9:.0f} GFLOP/s",
    flush=True,
  )
  results = {"matmul_gflops": {k: v / 1e9 for k, v in matmul.items()}}
  for arch in _ARCHS.value:
    results[arch] = measure_arch(arch, matmul, _STEPS.value, _BATCH.value)
  main_arch = "vgg16" if "vgg16" in results else _ARCHS.value[0]
  r = results[main_arch]
  best = lambda policy: min(r[f"step_{policy}_xla_seconds"], r[f"step_{policy}_no_xla_seconds"])  # noqa: E731
  cpu = reproducibility.cpu_info()
  summary = {
    "arch": main_arch,
    "cpu": cpu["model"],
    "cpu_flags": cpu["flags"],
    "has_bf16_units": bool(distribute.bf16_units()),
    "float32_step_fraction_of_matmul": max(
      r["step_float32_xla_fraction_of_matmul"], r["step_float32_no_xla_fraction_of_matmul"]
    ),
    "bf16_step_speedup": best("float32") / best("mixed_bfloat16"),
    "cache_pass_bf16_speedup": r["cache_pass_mixed_bfloat16_images_per_s"]
    / r["cache_pass_float32_images_per_s"],
    "filter_loss_share": 1
    - r["step_float32_xla_without_filter_loss_seconds"] / r["step_float32_xla_seconds"],
    "auto_policy": distribute.auto_precision()[0],
    "auto_jit": distribute.auto_jit(distribute.auto_precision()[0]),
  }
  results.update(summary)
  for key, value in summary.items():
    print(f"{key}: {value}")
  common.write("paper_scale", results)


if __name__ == "__main__":
  app.run(main)
