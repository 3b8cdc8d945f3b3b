"""The paper's evaluation of an explainer against its performer.

* Location instability (SPEC section 2) of the explainer's last interpretable
  layer, the performer's top conv layer and its target layer.
* p, the interpretable track's share.
* The classification error of the performer and of the performer's
  classifier fed with the explainer's last reconstructed fc layer (Delta-error).

Protocols: a single-category performer is measured on the test images of its
target class; a multi-category one assigns each filter to the category whose
images activate it most and measures it on that category's images.
"""

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

from tf_explainer import data as data_lib
from tf_explainer import io_utils
from tf_explainer import metrics as metrics_lib
from tf_explainer import performers
from tf_explainer.losses import objective


@dataclasses.dataclass
class Collected:
  """Everything the metrics and pictures need, from one pass over a split."""

  peaks: dict  # layer -> (N, F, 2)
  scores: dict  # layer -> (N, F)
  labels: np.ndarray  # task labels (N,)
  landmarks: np.ndarray  # (N, K, 2) in input pixels
  performer_logits: np.ndarray
  explainer_logits: np.ndarray
  interpretable_share: np.ndarray  # (N,)
  samples: dict  # first images and maps, for pictures
  index: np.ndarray


def layer_mappings(model, spec):
  """Unit mappings of the three compared layers (the explainer's through the target's)."""
  target = metrics_lib.unit_mapping(model, spec.target_layer)
  return {
    "explainer": target,
    "performer_top_conv": metrics_lib.unit_mapping(model, spec.top_conv_layer),
    "performer_target": target,
  }


def probe_model(model, spec):
  """Images -> target map, top conv map and logits."""
  layers = {"target": spec.target_layer, "top_conv": spec.top_conv_layer, "logits": "logits"}
  return performers.image_probe(model, spec, layers)


def maps_of(explainer, model, spec, dataset, batch_size=32):
  """Images, explainer part maps and top-conv maps of every image of a (small) dataset."""
  # Compiled: run eagerly, AlexNet's grouped convolutions trace a fresh function
  # on every call and TensorFlow warns about retracing.
  step = compiled_step(explainer, model, spec)
  out = {"images": [], "explainer": [], "performer_top_conv": []}
  for batch in data_lib.make_dataset(dataset, spec.image_size, batch_size=batch_size, cache=False):
    maps = step(batch["images"])
    out["images"].append(batch["images"].numpy())
    out["explainer"].append(maps["explainer"].numpy())
    out["performer_top_conv"].append(maps["performer_top_conv"].numpy())
  return {k: np.concatenate(v) for k, v in out.items()}


def compiled_step(explainer, model, spec):
  """One compiled function from a batch of images to every output evaluation reads."""
  probe = probe_model(model, spec)
  classifier = model.get_layer(spec.classifier_layer)

  @tf.function(reduce_retracing=True)
  def step(images):
    out = probe(images, training=False)
    fwd = explainer.forward(out["target"], training=False)
    return {
      "explainer": tf.cast(fwd["masked"][-1], tf.float32),
      "performer_top_conv": tf.cast(out["top_conv"], tf.float32),
      "performer_target": tf.cast(out["target"], tf.float32),
      "performer_logits": tf.cast(out["logits"], tf.float32),
      "explainer_logits": tf.cast(classifier(fwd["fc"][-1]), tf.float32),
      "share": objective.interpretable_share(fwd),
    }

  return step


def collect(
  explainer, model, spec, dataset, labels, batch_size=32, num_samples=16, progress=False, step=None
):
  """Runs performer and explainer over `dataset`, keeping peaks, scores and logits.

  Each batch goes through one compiled function (`step`, from `compiled_step`;
  made here when not given: a caller that measures repeatedly passes its own, so
  that it is traced once); `progress` shows a bar.
  """
  step = step or compiled_step(explainer, model, spec)
  mappings = layer_mappings(model, spec)
  peaks = {k: [] for k in mappings}
  scores = {k: [] for k in mappings}
  perf_logits, expl_logits, lms, index, shares = [], [], [], [], []
  samples = {}
  ds = data_lib.make_dataset(
    dataset, spec.image_size, labels=labels, batch_size=batch_size, cache=False
  )
  bar = (
    keras.utils.Progbar(len(dataset), unit_name="image", verbose=io_utils.progress_verbosity(1))
    if progress
    else None
  )
  for batch in ds:
    out = {k: v.numpy() for k, v in step(batch["images"]).items()}
    maps = {name: out[name] for name in ("explainer", "performer_top_conv", "performer_target")}
    for name, m in maps.items():
      p, s = metrics_lib.peaks_and_scores(m, mappings[name])
      peaks[name].append(p)
      scores[name].append(s)
    perf_logits.append(out["performer_logits"])
    expl_logits.append(out["explainer_logits"])
    shares.append(out["share"])
    if bar:
      bar.add(len(out["share"]))
    lms.append(batch["landmarks"].numpy())
    index.append(batch["index"].numpy())
    have = len(samples.get("images", []))
    if have < num_samples:
      take = num_samples - have
      for key, value in (
        ("images", batch["images"].numpy()),
        ("explainer", maps["explainer"]),
        ("performer_top_conv", maps["performer_top_conv"]),
        ("landmarks", batch["landmarks"].numpy()),
        ("labels", batch["labels"].numpy()),
      ):
        samples[key] = (
          np.concatenate([samples[key], value[:take]]) if key in samples else value[:take]
        )
  cat = lambda parts: np.concatenate(parts) if parts else np.zeros((0,))  # noqa: E731
  return Collected(
    peaks={k: cat(v) for k, v in peaks.items()},
    scores={k: cat(v) for k, v in scores.items()},
    labels=np.asarray(labels),
    landmarks=cat(lms),
    performer_logits=cat(perf_logits),
    explainer_logits=cat(expl_logits),
    interpretable_share=cat(shares),
    samples=samples,
    index=cat(index),
  )


def instabilities(collected, spec, top_n=100):
  """Location instability of the three layers under the performer's protocol.

  Returns:
    `(values dict, per-filter dict, notes list)`.
  """
  image_shape = (spec.image_size, spec.image_size)
  notes = []
  values, per_filter = {}, {}
  if not np.any(np.isfinite(collected.landmarks)):
    notes.append("The dataset has no landmarks: location instability is not defined.")
    return {k: None for k in collected.peaks}, {}, notes
  if spec.task == "single":
    rows = target_rows(collected.labels, spec)
    n = int(rows.sum())
    if n < top_n:
      notes.append(f"{n} test images of the target class, fewer than top_n = {top_n}: all used.")
    for name in collected.peaks:
      args = (collected.peaks[name][rows], collected.scores[name][rows], collected.landmarks[rows])
      values[name] = metrics_lib.location_instability(*args, image_shape, top_n)
      per_filter[name] = metrics_lib.filter_instabilities(*args[:3], top_n)
  else:
    counts = np.bincount(collected.labels, minlength=spec.num_classes)
    if counts.min() < top_n:
      notes.append(
        f"Some categories have fewer test images ({counts.min()}) than top_n = "
        f"{top_n}: all their images used."
      )
    for name in collected.peaks:
      filter_cats = metrics_lib.assign_filter_categories(
        collected.scores[name], collected.labels, spec.num_classes
      )
      args = (collected.peaks[name], collected.scores[name], collected.landmarks)
      values[name] = metrics_lib.location_instability(
        *args, image_shape, top_n, image_categories=collected.labels, filter_categories=filter_cats
      )
      per_filter[name] = metrics_lib.filter_instabilities(
        *args, top_n, image_categories=collected.labels, filter_categories=filter_cats
      )
  values = {k: (None if v is None or math.isnan(v) else v) for k, v in values.items()}
  return values, per_filter, notes


TOP_N_VARIANTS = (20, 50, 100)


def silent_shares(collected):
  """Per layer, the share of (image, filter) maps that are all zero (strongest unit <= 0)."""
  return {
    name: float(np.mean(scores <= 0.0)) if scores.size else None
    for name, scores in collected.scores.items()
  }


def central_peak_shares(collected, spec, mappings):
  """Per layer, the share of maps whose peak lies within one unit's stride of the crop centre.

  Filters that all collapse onto the centre of the object score a low
  location instability without describing any part (a filter fixed at the
  centre is near the measure's floor); this share shows that collapse.
  """
  centre = (spec.image_size - 1) / 2.0
  shares = {}
  for name, peaks in collected.peaks.items():
    if not peaks.size:
      shares[name] = None
      continue
    distance = np.sqrt(np.sum(np.square(peaks - centre), axis=-1))
    shares[name] = float(np.mean(distance <= float(mappings[name].stride[0])))
  return shares


def target_rows(labels, spec):
  """The images whose parts a filter is measured on: the target class's, or all.

  `labels` are the task's (`data.task_labels`), as `collect` records them.
  """
  labels = np.asarray(labels)
  if spec.task == "single":
    return labels == 1
  return np.ones(len(labels), bool)


def tracking(collected, spec, part_names, top_n=100):
  """Part tracking of the three layers, and the fixed-point and perfect-tracker controls.

  A point fixed at the mean landmark is the centre-bias control: its location
  instability is what a filter that never moves scores, and it must track no
  part. A peak exactly on each landmark is the perfect tracker: its instability is
  the floor for a filter that follows one part, left by how the other parts move
  against it. Multi-category performers are measured on all images.

  Returns:
    `(summary dict, per-filter dict of the layers)`; `(None, {})` without landmarks.
  """
  rows = target_rows(collected.labels, spec)
  landmarks = collected.landmarks[rows]
  if not np.any(np.isfinite(landmarks)):
    return None, {}
  summary, per_filter = {}, {}
  for name in collected.peaks:
    summary[name], per_filter[name] = metrics_lib.part_tracking(
      collected.peaks[name][rows],
      collected.scores[name][rows],
      landmarks,
      spec.image_size,
      part_names,
    )
  fixed = metrics_lib.fixed_point_peaks(landmarks)
  ones = np.ones(fixed.shape[:2])
  summary["fixed_point"], _ = metrics_lib.part_tracking(
    fixed, ones, landmarks, spec.image_size, part_names
  )
  image_shape = (spec.image_size, spec.image_size)
  summary["fixed_point"]["location_instability"] = metrics_lib.location_instability(
    fixed, ones, landmarks, image_shape, top_n
  )
  perfect, perfect_scores = metrics_lib.landmark_peaks(landmarks)
  summary["perfect_tracker"] = {
    "location_instability": metrics_lib.location_instability(
      perfect, perfect_scores, landmarks, image_shape, top_n
    )
  }
  return summary, per_filter


def errors(collected):
  """Classification errors of the performer and of the explainer's reconstruction."""
  perf = float(np.mean(np.argmax(collected.performer_logits, -1) != collected.labels))
  expl = float(np.mean(np.argmax(collected.explainer_logits, -1) != collected.labels))
  return {"performer": perf, "explainer": expl, "delta": expl - perf}


def share_by_category(collected, spec):
  """Mean interpretable share of the encoder output, overall and per category."""
  names = list(spec.class_names) or [str(c) for c in range(spec.num_classes)]
  result = {"all": float(np.mean(collected.interpretable_share))}
  for c, name in enumerate(names):
    rows = collected.labels == c
    if rows.any():
      result[str(name)] = float(np.mean(collected.interpretable_share[rows]))
  return result


def evaluate(
  explainer, model, spec, dataset, split="test", top_n=100, batch_size=32, progress=False
):
  """The metrics dict of `metrics.json` plus the collected arrays for pictures.

  Returns:
    `(metrics, collected, per_filter)`: `per_filter` holds each layer's
    instabilities and, under `"part_tracking"`, each layer's per-filter part
    tracking (see `metrics.part_tracking`).
  """
  subset = data_lib.select(dataset, split)
  if len(subset) == 0:
    raise ValueError(f"The dataset has no {split} images to evaluate on.")
  labels = data_lib.task_labels(subset.labels, spec.task, spec.target_class)
  collected = collect(explainer, model, spec, subset, labels, batch_size, progress=progress)
  values, per_filter, notes = instabilities(collected, spec, top_n)
  tracked, per_filter["part_tracking"] = tracking(
    collected, spec, [str(p) for p in subset.part_names], top_n
  )
  result = {
    "location_instability": values,
    # The same at fewer images per filter, and how many scored maps are silent:
    # together they show whether weak or silent maps drive the figure.
    "location_instability_top_n": {
      str(n): instabilities(collected, spec, n)[0] for n in TOP_N_VARIANTS
    },
    "silent_share": silent_shares(collected),
    "central_peak_share": central_peak_shares(collected, spec, layer_mappings(model, spec)),
    "part_tracking": tracked,
    "p": float(explainer.p),
    "interpretable_share": share_by_category(collected, spec),
    "error": errors(collected),
    "protocol": spec.task,
    "arch": spec.arch,
    "performer_weights": spec.weights,
    "num_images": int(len(subset)),
    "top_n": top_n,
    "notes": notes,
  }
  return result, collected, per_filter
