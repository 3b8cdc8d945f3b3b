"""What `benchmarks.filter_parts --fc_reads` measures: where a performer's last fc layer
reads its top conv map, and whether its explainer's filters follow; and `--groups`' part
tracking with parts taken together (no flags here, so that tests can import it)."""


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
  from tf_explainer import metrics as metrics_lib

  names = [str(n) for n in subset.part_names]
  mapping = evaluation.layer_mappings(model, spec)["performer_top_conv"]
  saliency = fc_saliency(model, spec)
  labels = data_lib.task_labels(subset.labels, spec.task, spec.target_class)
  rows = evaluation.target_rows(labels, spec)
  ds = data_lib.make_dataset(
    subset, spec.image_size, labels=labels, batch_size=batch_size, cache=False
  )
  shares, strongest = [], np.zeros(len(names), int)
  for batch in ds:
    lm = batch["landmarks"].numpy()
    keep = rows[batch["index"].numpy()] & np.isfinite(lm).all(-1).any(-1)
    sal, lm = saliency(batch["images"]).numpy()[keep], lm[keep]
    sal = sal / np.maximum(sal.sum((1, 2), keepdims=True), 1e-12)
    ok = np.isfinite(lm).all(-1)  # (B, K)
    # Each landmark's nearest unit (mapping.to_units), and its share there.
    units = mapping.to_units(np.nan_to_num(lm), sal.shape[1])
    at = sal[np.arange(len(sal))[:, None], units[..., 0], units[..., 1]]
    shares.extend(np.where(ok, at, np.nan))
    peaks, _ = metrics_lib.peaks_and_scores(sal[..., None], mapping)  # (B, 1, 2)
    distance = np.where(ok, np.linalg.norm(np.nan_to_num(lm) - peaks, axis=-1), np.inf)
    np.add.at(strongest, np.argmin(distance, axis=1), 1)
  mean = np.nanmean(np.array(shares, float), 0) if shares else np.full(len(names), np.nan)
  return {
    "layer": spec.fc_layers[-1],
    "share_at_part": {n: float(v) for n, v in zip(names, mean)},
    "strongest_nearest": {n: int(c) for n, c in zip(names, strongest)},
    "images": len(shares),
  }


def _ranks(values):
  import numpy as np

  return np.argsort(np.argsort(values, kind="stable"), kind="stable").astype(float)


def reads_against_counts(reads, counts):
  """Do the explainers' per-part filter counts follow where their performers' fc layers read?

  Args:
    reads: per performer, `{part: share}` (`fc_reads`'s `share_at_part`).
    counts: per performer, `{part: filters}`, the explainer's tracking filters per part.

  Returns:
    the mean over performers of the rank correlation of the two (Spearman, ties broken in
    part order) and the share whose largest read is their explainer's largest part; the same
    for every pairing of one performer's reads with another performer's explainer (the
    control: what a correlation between unrelated performers looks like).
  """
  import numpy as np

  parts = list(reads[0])

  def compare(r, c):
    a = np.array([r[p] for p in parts], float)
    b = np.array([c[p] for p in parts], float)
    rho = float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])
    return rho, float(np.argmax(a) == np.argmax(b))

  own = np.array([compare(r, c) for r, c in zip(reads, counts)])
  other = np.array(
    [compare(r, c) for i, r in enumerate(reads) for j, c in enumerate(counts) if i != j]
  )
  return {
    "performers": len(reads),
    "spearman": float(own[:, 0].mean()),
    "largest_part_matches": float(own[:, 1].mean()),
    "control_spearman": float(other[:, 0].mean()) if len(other) else None,
    "control_largest_part_matches": float(other[:, 1].mean()) if len(other) else None,
  }


def grouped_landmarks(landmarks, names, groups):
  """Landmarks with the parts of each group taken as one part that may sit at any of them.

  Args:
    landmarks: `(N, K, 2)`, the parts `names` in order.
    names: the K part names.
    groups: `{new name: [part names]}`; parts in no group stay as they are.

  Returns:
    `(landmarks (N, K', M, 2), names')` for `metrics.part_tracking`, NaN-padded: each
    group in the place of its first listed part, every other part in its own.
  """
  import numpy as np

  landmarks = np.asarray(landmarks, np.float64)
  members = [m for parts in groups.values() for m in parts]
  unknown = sorted(set(members) - set(names))
  if unknown:
    raise ValueError(f"groups: no part named {unknown}; the parts are {list(names)}.")
  if len(set(members)) < len(members):
    raise ValueError("groups: a part is in more than one group.")
  group_of = {m: g for g, parts in groups.items() for m in parts}
  out, out_names = [], []
  for k, name in enumerate(names):
    if name not in group_of:
      out.append([k])
      out_names.append(name)
    elif groups[group_of[name]][0] == name:
      out.append([names.index(m) for m in groups[group_of[name]]])
      out_names.append(group_of[name])
  width = max(len(ks) for ks in out)
  grouped = np.full(landmarks.shape[:1] + (len(out), width, 2), np.nan)
  for j, ks in enumerate(out):
    grouped[:, j, : len(ks)] = landmarks[:, ks]
  return grouped, out_names


def grouped_tracking(collected, spec, names, groups, tracking):
  """The explainer's part tracking as `metrics.json` counts it (`tracking`, its summary,
  passed in) and with `groups` of parts taken as one (`grouped_tracking`), each with
  `parts_10pct`: how many parts hold at least 10% of the distinct peak patterns."""
  from benchmarks.real_photos_lib import parts_holding
  from tf_explainer import evaluation
  from tf_explainer import metrics as metrics_lib

  rows = evaluation.target_rows(collected.labels, spec)
  landmarks, parts = grouped_landmarks(collected.landmarks[rows], names, groups)
  grouped, _ = metrics_lib.part_tracking(
    collected.peaks["explainer"][rows],
    collected.scores["explainer"][rows],
    landmarks,
    spec.image_size,
    parts,
  )
  return {
    "tracking": {**tracking, "parts_10pct": parts_holding(tracking)},
    "grouped_tracking": {**grouped, "parts_10pct": parts_holding(grouped)},
  }
