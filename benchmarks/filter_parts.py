"""Where filters fire before any explainer training: the part nearest each filter's peaks.

For a performer, counts the filters nearest each landmark, and their mean
instability (px) by part, (as `metrics.json`'s
`filters_per_part` does for the explainer) for the performer's target and top
conv layers and for untrained explainers built on it (second interpretable
conv random, as in the paper, or the identity), and optionally for trained
explainers. Measured on the validation split. Writes
`benchmarks/results/filter_parts.json`:

    python -m benchmarks.filter_parts --work_dir=runs/ablations \\
        --performers=alexnet/performer,alexnet-synthetic/performer \\
        --explainers=alexnet/default-seed0/explainer,alexnet-synthetic/identity_init-seed0/explainer

With `--fc_reads`, it measures instead where each performer's last fc layer reads
its top conv map (`fc_reads`): the parts an explainer that reconstructs that layer
has to describe.
"""

import os

from absl import app, flags

from benchmarks import common

_WORK_DIR = flags.DEFINE_string("work_dir", "runs/ablations", "The ablation study's folder.")
_PERFORMERS = flags.DEFINE_list(
  "performers", ["alexnet/performer"], "Performer folders, relative to --work_dir."
)
_EXPLAINERS = flags.DEFINE_list(
  "explainers", [], "Trained explainer folders, relative to --work_dir."
)
_SPLIT = flags.DEFINE_string("split", "validation", "Images to measure on.")
_NAME = flags.DEFINE_string(
  "name", "filter_parts", "The results file, benchmarks/results/NAME.json."
)
_FC_READS = flags.DEFINE_boolean(
  "fc_reads",
  False,
  "Measure only where each performer's last fc layer reads the top conv map (fc_reads); "
  "skips the untrained explainers.",
)
_DETERMINISTIC = common.define_deterministic_flag(True)


def counts(collected, dataset, layers):
  import numpy as np
  from tf_explainer import metrics as metrics_lib

  names = [str(n) for n in dataset.part_names]
  result = {}
  for layer in layers:
    d = metrics_lib.filter_landmark_distances(
      collected.peaks[layer], collected.scores[layer], collected.landmarks, 100
    )
    d = np.where(np.isnan(d), np.inf, d)
    alive = np.isfinite(d).any(1)
    near = np.argmin(d, 1)
    # Each filter's instability (px, the metric's per-filter figure), averaged by part.
    instability = metrics_lib.filter_instabilities(
      collected.peaks[layer], collected.scores[layer], collected.landmarks, 100
    )
    by_part = {}
    for k, n in enumerate(names):
      rows = (near == k) & alive & np.isfinite(instability)
      by_part[n] = float(np.mean(instability[rows])) if rows.any() else None
    result[layer] = {
      "filters_per_part": {n: int(np.sum((near == k) & alive)) for k, n in enumerate(names)},
      "median_distance_px": float(np.median(d[alive].min(1))),
      "instability_px_per_part": by_part,
    }
  return result


def fc_saliency(model, spec):
  """A function of images: where the performer's last fc layer reads its top conv map.

  Per image, input x gradient of `||fc_last||^2` on the top conv's output, summed over
  channels: float32 `(B, L, L)`.
  """
  import tensorflow as tf
  import keras

  conv_model = keras.Model(model.inputs, model.get_layer(spec.top_conv_layer).output)
  order = [layer.name for layer in model.layers]
  tail = model.layers[order.index(spec.top_conv_layer) + 1 : order.index(spec.fc_layers[-1]) + 1]

  @tf.function
  def saliency(images):
    conv = conv_model(images, training=False)
    with tf.GradientTape() as tape:
      tape.watch(conv)
      y = conv
      for layer in tail:
        y = layer(y, training=False)
      energy = tf.reduce_sum(tf.square(tf.cast(y, tf.float32)))
    grad = tape.gradient(energy, conv)
    return tf.reduce_sum(tf.abs(tf.cast(grad, tf.float32) * tf.cast(conv, tf.float32)), -1)

  return saliency


def fc_reads(model, spec, subset, batch_size=32):
  """Where the performer's last fc layer reads its top conv map, on the target class.

  Each image's `fc_saliency`, normalised to sum 1. Returns, per part, the mean share at the
  unit nearest the landmark, and how many images have their strongest unit nearest that part.
  """
  import numpy as np

  from tf_explainer import data as data_lib
  from tf_explainer import evaluation

  names = [str(n) for n in subset.part_names]
  mapping = evaluation.layer_mappings(model, spec)["performer_top_conv"]
  centre, stride = np.asarray(mapping.center, float), np.asarray(mapping.stride, float)
  saliency = fc_saliency(model, spec)
  labels = data_lib.task_labels(subset.labels, spec.task, spec.target_class)
  rows = labels == 1 if spec.task == "single" else np.ones(len(labels), bool)
  ds = data_lib.make_dataset(
    subset, spec.image_size, labels=labels, batch_size=batch_size, cache=False
  )
  shares, strongest = [], np.zeros(len(names), int)
  for batch in ds:
    keep = rows[batch["index"].numpy()]
    sal = saliency(batch["images"]).numpy()[keep]
    sal = sal / np.maximum(sal.sum((1, 2), keepdims=True), 1e-12)
    for s, lm in zip(sal, batch["landmarks"].numpy()[keep]):
      ok = np.isfinite(lm).all(-1)
      if not ok.any():
        continue
      units = np.clip(np.round((np.nan_to_num(lm) - centre) / stride), 0, s.shape[0] - 1)
      shares.append([s[int(u[0]), int(u[1])] if o else np.nan for u, o in zip(units, ok)])
      peak = centre + stride * np.array(np.unravel_index(np.argmax(s), s.shape))
      d = np.where(ok, np.linalg.norm(np.nan_to_num(lm) - peak, axis=-1), np.inf)
      strongest[np.argmin(d)] += 1
  mean = np.nanmean(np.array(shares, float), 0) if shares else np.full(len(names), np.nan)
  return {
    "layer": spec.fc_layers[-1],
    "share_at_part": {n: float(v) for n, v in zip(names, mean)},
    "strongest_nearest": {n: int(c) for n, c in zip(names, strongest)},
    "images": len(shares),
  }


def ratio(result):
  li = result["location_instability"]
  return li["explainer"] / li["performer_top_conv"]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from tf_explainer import data as data_lib
  from tf_explainer import evaluation
  from tf_explainer.models import io as model_io
  from tf_explainer import reproducibility
  from tf_explainer.train import explainer_lib

  reproducibility.configure(0, _DETERMINISTIC.value)
  dataset = data_lib.read_part_dataset(os.path.join(_WORK_DIR.value, "data"))
  records = []
  for name in _PERFORMERS.value:
    model, spec = model_io.load_performer(os.path.join(_WORK_DIR.value, name))
    if _FC_READS.value:
      subset = data_lib.select(dataset, _SPLIT.value)
      records.append({"performer": name, "fc_reads": fc_reads(model, spec, subset)})
      print(records[-1], flush=True)
      continue
    for init in ("random", "identity"):
      explainer = explainer_lib.build_for_performer(model, spec, interp_init=init)
      result, collected, _ = evaluation.evaluate(explainer, model, spec, dataset, _SPLIT.value)
      layers = ("explainer", "performer_top_conv", "performer_target")
      records.append(
        {
          "performer": name,
          "explainer": f"untrained, interp_init={init}",
          "ratio": ratio(result),
          **counts(collected, dataset, layers),
        }
      )
      print(records[-1], flush=True)
  for name in _EXPLAINERS.value:
    explainer, model, spec, _ = model_io.load_explainer(os.path.join(_WORK_DIR.value, name))
    result, collected, _ = evaluation.evaluate(explainer, model, spec, dataset, _SPLIT.value)
    records.append(
      {"explainer": name, "ratio": ratio(result), **counts(collected, dataset, ("explainer",))}
    )
    print(records[-1], flush=True)
  common.write(_NAME.value, records)


if __name__ == "__main__":
  app.run(main)
