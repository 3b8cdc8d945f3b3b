"""Explainer-training throughput and where the step time goes.

Measures, on one machine and in one run:
* images/s with the feature cache against features computed by the performer
  every epoch;
* float32 against mixed_bfloat16 (cached);
* the filter loss's share of the training step;
* the step's achieved FLOP/s as a fraction of a large matmul's.

    python -m benchmarks.explainer_training
"""

import os
import tempfile
import time

from absl import app, flags

from benchmarks import common


def explainer_flops(config):
  """Forward FLOPs per image of the explainer (multiply-add = 2)."""
  size, _, depth = config.target_shape
  width = config.width
  convs = config.interp_layers + config.ordin_layers
  flops = 2 * size * size * 9 * depth * width  # first conv of each track reads D channels
  flops = flops * 2 + 2 * size * size * 9 * width * width * (convs - 2)
  pooled = size
  if config.pool:
    k, s = config.pool["pool_size"][0], config.pool["strides"][0]
    pooled = (size - k) // s + 1
  inputs = pooled * pooled * width
  for units in config.fc_sizes:
    flops += 2 * inputs * units
    inputs = units
  return flops


def timed_fit(model, dataset, images, epochs):
  model.fit(dataset, epochs=1, verbose=0)  # trace and warm up
  start = time.perf_counter()
  model.fit(dataset, epochs=epochs, verbose=0)
  return images * epochs / (time.perf_counter() - start)


def _step_times(build, dataset, rounds=5, steps=20):
  """Median seconds per compiled training step, with and without the filter loss."""
  import statistics
  import tensorflow as tf
  from tf_explainer.losses.filter_loss import filter_loss

  def zero_filter_loss(x, templates, **kwargs):
    del templates, kwargs
    return 0.0 * tf.reduce_sum(x, axis=[0, 1, 2])

  steps_fns = []
  for loss_fn in (filter_loss, zero_filter_loss):
    model = build("float32", filter_loss_fn=loss_fn)
    model.fit(dataset.take(1), verbose=0)  # builds the optimizer
    fn = model.make_train_function()
    iterator = iter(dataset.repeat())
    fn(iterator)  # traces and compiles
    steps_fns.append((fn, iterator))
  times = [[], []]
  for _ in range(rounds):
    for i, (fn, iterator) in enumerate(steps_fns):
      start = time.perf_counter()
      for _ in range(steps):
        logs = fn(iterator)
      float(logs["loss"])
      times[i].append((time.perf_counter() - start) / steps)
  return statistics.median(times[0]), statistics.median(times[1])


def measure(
  num_images=640, arch="alexnet", image_size=131, width=0.25, fc_units=256, batch_size=32, epochs=3
):
  """Runs every measurement; returns the results dict."""
  import keras
  import tensorflow as tf
  from tf_explainer import performers
  from tf_explainer.configs import LossSettings
  from tf_explainer.models import io as model_io
  from tf_explainer.data import read_part_dataset, select, synthetic
  from tf_explainer.losses import filter_loss
  from tf_explainer.train import explainer_lib, features, trainer
  from tf_explainer.optimizers import FusedAdam

  root = tempfile.mkdtemp()
  data = synthetic.generate(os.path.join(root, "data"), int(num_images / 0.7) + 6, progress=False)
  model, spec = performers.build_performer(arch, 6, image_size, width=width, fc_units=fc_units)
  model_io.save_performer(model, spec, os.path.join(root, "performer"))
  train = select(read_part_dataset(data), "train")
  batch = batch_size
  images = len(train) // batch * batch

  def pairs(ds):
    return (
      features.to_training_pairs(ds, spec.fc_names).batch(batch, drop_remainder=True).prefetch(2)
    )

  cached, _ = features.cached_features(
    model,
    spec,
    os.path.join(root, "performer"),
    train,
    os.path.join(root, "cache"),
    "train",
    progress=False,
  )
  cached = cached.cache()
  norms, _ = features.feature_statistics(cached, spec.fc_names)
  results = {
    "arch": arch,
    "image_size": image_size,
    "width": width,
    "batch_size": batch,
    "images_per_epoch": images,
  }

  def build(policy, jit_compile=True, filter_loss_fn=filter_loss):
    keras.mixed_precision.set_global_policy(policy)
    explainer = trainer.ExplainerTrainer(
      explainer_lib.build_for_performer(model, spec),
      LossSettings(eta=explainer_lib.paper_eta(spec)),
      filter_loss_fn=filter_loss_fn,
    )
    explainer.set_reconstruction_weights(norms)
    explainer.compile(
      optimizer=FusedAdam(1e-4),
      gate_optimizer=FusedAdam(1e-2),
      jit_compile=jit_compile,
    )
    return explainer

  uncached = features.feature_dataset(model, spec, train, batch)
  for name, policy, jit, ds in (
    ("float32_cached", "float32", True, pairs(cached)),
    ("float32_cached_no_xla", "float32", False, pairs(cached)),
    ("float32_uncached", "float32", True, pairs(uncached)),
    ("mixed_bfloat16_cached", "mixed_bfloat16", True, pairs(cached)),
    ("mixed_bfloat16_cached_no_xla", "mixed_bfloat16", False, pairs(cached)),
  ):
    results[name] = timed_fit(build(policy, jit), ds, images, epochs)
    print(f"{name}: {results[name]:.1f} images/s")
  keras.mixed_precision.set_global_policy("float32")

  # Where the time goes. The filter loss's share is what it adds to the
  # compiled training step: the same step with the filter loss replaced by
  # zeros, timed in alternation with the full one (medians of 5 rounds of 20
  # steps). XLA overlaps the loss's small ops with the convs, so this is far
  # less than the loss compiled and timed on its own, which is reported too.
  step_time, ablated_time = _step_times(build, pairs(cached))
  _, targets = next(iter(pairs(cached)))
  explainer = build("float32")
  x = [
    tf.random.uniform(
      (batch,) + tuple(explainer.config.target_shape[:2]) + (explainer.config.width,)
    )
    * 3
    for _ in range(2)
  ]
  cats = tf.cast(targets["category"], tf.int32)
  filter_cats = tf.zeros([explainer.config.width], tf.int32)

  @tf.function(jit_compile=True)
  def filter_step(a, b):
    with tf.GradientTape() as tape:
      tape.watch([a, b])
      total = sum(
        tf.reduce_sum(
          filter_loss(
            v,
            explainer.templates,
            gradient="approx",
            image_categories=cats,
            filter_categories=filter_cats,
          )
        )
        for v in (a, b)
      )
    return tape.gradient(total, [a, b])

  filter_step(*x)
  start = time.perf_counter()
  for _ in range(50):
    out = filter_step(*x)
  out[0].numpy()
  filter_time = (time.perf_counter() - start) / 50
  results["step_without_filter_loss_seconds"] = ablated_time
  results["filter_loss_alone_seconds"] = filter_time
  results["filter_loss_alone_over_step"] = filter_time / step_time
  results["step_seconds"] = step_time
  results["filter_loss_share"] = (step_time - ablated_time) / step_time
  flops = 3 * explainer_flops(explainer.config) * batch  # forward + two backward passes
  results["step_flops"] = flops
  results["step_flops_per_second"] = flops / step_time
  for dtype in ("float32", "bfloat16"):
    peak = common.matmul_flops_per_second(getattr(tf, dtype))
    results[f"matmul_{dtype}_flops_per_second"] = peak
  results["fraction_of_float32_matmul"] = (
    flops / step_time / results["matmul_float32_flops_per_second"]
  )
  print(
    f"step {1e3 * step_time:.2f} ms, without the filter loss {1e3 * ablated_time:.2f} ms "
    f"(filter loss share {100 * results['filter_loss_share']:.1f}%; compiled alone it takes "
    f"{1e3 * filter_time:.2f} ms); {flops / step_time / 1e9:.1f} GFLOP/s = "
    f"{results['fraction_of_float32_matmul']:.2f} of a float32 matmul "
    f"({results['matmul_float32_flops_per_second'] / 1e9:.0f} GFLOP/s; bfloat16 matmul "
    f"{results['matmul_bfloat16_flops_per_second'] / 1e9:.0f} GFLOP/s)"
  )
  results["cached_over_uncached"] = results["float32_cached"] / results["float32_uncached"]
  results["bfloat16_over_float32"] = results["mixed_bfloat16_cached"] / results["float32_cached"]
  return results


def main(_):
  from tf_explainer import reproducibility

  values = flags.FLAGS
  reproducibility.configure(0, values.deterministic)
  common.write(
    "explainer_training",
    measure(
      values.num_images,
      values.arch,
      values.image_size,
      values.width,
      values.fc_units,
      values.batch_size,
      values.epochs,
    ),
  )


if __name__ == "__main__":
  # Flags are defined here so that benchmarks/paper_tables.py can import measure().
  _NUM_IMAGES = flags.DEFINE_integer("num_images", 640, "Training images.")
  _ARCH = flags.DEFINE_string("arch", "alexnet", "Performer architecture.")
  _IMAGE_SIZE = flags.DEFINE_integer("image_size", 131, "Performer input side.")
  _WIDTH = flags.DEFINE_float("width", 0.25, "Performer width multiplier.")
  _FC_UNITS = flags.DEFINE_integer("fc_units", 256, "Performer fc width.")
  _BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size.")
  _EPOCHS = flags.DEFINE_integer("epochs", 3, "Timed epochs (after one warm-up epoch).")
  common.define_deterministic_flag(False)
  app.run(main)
