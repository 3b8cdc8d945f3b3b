"""Evaluation run: metrics.json, figures and the report (library of training/evaluate.py)."""

import os

import numpy as np

from tf_explainer.configs import EvaluationSettings
from tf_explainer import data as data_lib
from tf_explainer import evaluation, io_utils
from tf_explainer import metrics as metrics_lib
from tf_explainer.models import io as model_io
from tf_explainer import reproducibility
from tf_explainer.visualize import figures, report


def assign_parts(collected, spec, top_n):
  """Each interpretable filter's part: the landmark nearest its peaks on average.

  Nearest, not most stable: the spread of distances to the object's centre is
  small for any filter, so stability alone says little about where it fires.
  Filters whose peaks scatter over the object still land on its central part.
  """
  rows = evaluation.target_rows(collected.labels, spec)
  distances = metrics_lib.filter_landmark_distances(
    collected.peaks["explainer"][rows],
    collected.scores["explainer"][rows],
    collected.landmarks[rows],
    top_n,
  )
  distances = np.where(np.isnan(distances), np.inf, distances)
  return np.argmin(distances, axis=1)


def tracking_filters(scores, tracked, count):
  """Filters to picture: tracking filters, one per part first (best hit rate), then the rest.

  Args:
    scores: `(N, F)` each map's strongest activation.
    tracked: per-filter part tracking (`part`, `rate`) or `None`.
  """
  if tracked is None or not np.any(tracked["part"] >= 0):
    return figures.choose_filters(scores, count)
  part, rate = tracked["part"], np.nan_to_num(tracked["rate"], nan=-1.0)
  order = [int(f) for f in np.argsort(-rate, kind="stable") if part[f] >= 0]
  chosen = []
  for k in np.unique(part[part >= 0]):
    chosen.append(next(f for f in order if part[f] == k))
  chosen = sorted(chosen, key=order.index)[:count]
  chosen += [f for f in order if f not in chosen][: count - len(chosen)]
  chosen += [f for f in figures.choose_filters(scores, count) if f not in chosen]
  return chosen[:count]


def filter_label(layer, f, tracked, part_names):
  """The row label of a filter: the part it tracks and how often its peak lands on it."""
  title = f"{'explainer' if layer == 'explainer' else 'top conv'} filter {f}"
  if tracked is None or not len(part_names):
    return title
  rate, shuffled = tracked["rate"][f], tracked["shuffled_rate"][f]
  if not np.isfinite(rate):
    return f"{title}\nfires on too\nfew images"
  if tracked["part"][f] >= 0:
    name = part_names[tracked["part"][f]]
    return f"{title}\ntracks {name}:\non it {rate:.0%}\n({shuffled:.0%} shuffled)"
  return f"{title}\ntracks no part"


def receptive_fields(
  explainer, model, spec, subset, collected, tracked, part_names, path, filters=6, images=4
):
  """The receptive-field figure: each chosen filter on its top images of the whole split.

  Each filter is labelled with the part it tracks, its hit rate and the hit
  rate with shuffled landmarks (`tracked`: the per-layer per-filter part
  tracking, or `None` without landmarks).
  """
  rows, wanted = [], {}
  for name in ("explainer", "performer_top_conv"):
    scores = collected.scores[name]
    chosen = tracking_filters(scores, (tracked or {}).get(name), filters)
    wanted[name] = (chosen, figures.top_images(scores, chosen, images))
  needed = np.unique(np.concatenate([top.ravel() for _, top in wanted.values()]))
  pictures = evaluation.maps_of(explainer, model, spec, subset.subset(needed))
  position = {int(n): k for k, n in enumerate(needed)}
  for name, (chosen, top) in wanted.items():
    for f, images_of_f in zip(chosen, top):
      at = [position[int(n)] for n in images_of_f]
      label = filter_label(name, f, (tracked or {}).get(name), part_names)
      rows.append((name, label, pictures["images"][at], pictures[name][at][..., f]))
  figures.receptive_field_figure(
    rows, evaluation.layer_mappings(model, spec), spec.image_size, path
  )


def class_titles(collected, spec, count=6):
  """`true: bird / performer: bird / explainer: dog` for the first images of a split."""
  names = list(spec.class_names) or [str(c) for c in range(spec.num_classes)]
  true = collected.labels[:count]
  performer = np.argmax(collected.performer_logits[:count], -1)
  explainer = np.argmax(collected.explainer_logits[:count], -1)
  return [
    f"true: {names[t]}\nperformer: {names[p]}\nexplainer: {names[e]}"
    for t, p, e in zip(true, performer, explainer)
  ]


def draw_figures(
  explainer,
  model,
  spec,
  subset,
  collected,
  per_filter,
  filter_parts,
  part_names,
  output_dir,
  result,
):
  """Draws the receptive-field, Grad-CAM and part-contribution figures into `output_dir`.

  Returns:
    `(caption, path)` of each figure; `result` gains `mean_part_share`.
  """
  figure_list = []
  samples = collected.samples
  path = os.path.join(output_dir, "receptive_fields.png")
  receptive_fields(
    explainer,
    model,
    spec,
    subset,
    collected,
    per_filter["part_tracking"] or None,
    part_names,
    path,
  )
  figure_list.append(
    (
      "Receptive fields of six interpretable filters (those that track a part first, one "
      "per part) and six top-conv filters, each on its four top images of the split; "
      "each label names the part the filter tracks and how often its peak lands on it",
      path,
    )
  )
  grads = figures.class_score_gradients(explainer, model, spec, samples["images"])
  path = os.path.join(output_dir, "grad_cam.png")
  figures.grad_cam_figure(
    samples["images"], grads, spec.image_size, path, titles=class_titles(collected, spec)
  )
  figure_list.append(("Grad-CAM of the explainer and of the performer", path))
  if filter_parts is not None:
    shares = figures.part_contributions(*grads["explainer"], filter_parts, len(part_names))
    path = os.path.join(output_dir, "part_contributions.png")
    figures.contribution_figure(samples["images"], shares, part_names, path)
    figure_list.append(("Part contributions to the class score", path))
    result["mean_part_share"] = {
      name: float(shares[:, k].mean()) for k, name in enumerate(part_names)
    }
  return figure_list


def run(**settings):
  """Evaluates the explainer in `explainer_dir`; writes `metrics.json` and `report.md`.

  With `explainer_cls_dir` (an Explainer+cls baseline of the same performer),
  its classification error is added as `error.explainer_cls`.

  Args:
    **settings: the fields of `EvaluationSettings`, by keyword.

  Returns:
    The metrics dict, which records under `"run"` the seed, the determinism
    setting, the CPU and the library versions.
  """
  s = EvaluationSettings(**settings)
  reproducibility.configure(s.seed, s.deterministic)
  explainer, model, spec, _ = model_io.load_explainer(s.explainer_dir)
  dataset = data_lib.read_checked(s.dataset_dir, s.on_error, s.verbose)
  data_lib.require_annotations(dataset, "dataset_dir", "evaluation (part locations)")
  if s.verbose:
    print(f"Evaluating on the {s.split} split", flush=True)
  result, collected, per_filter = evaluation.evaluate(
    explainer, model, spec, dataset, s.split, s.top_n, s.batch_size, progress=s.verbose > 0
  )
  if s.explainer_cls_dir:
    cls, _, _, cls_manifest = model_io.load_explainer(s.explainer_cls_dir)
    objective = model_io.trained_loss(cls_manifest).get("objective", "reconstruction")
    if objective != "classification":
      raise ValueError(
        f"explainer_cls_dir={s.explainer_cls_dir} holds an explainer trained with "
        f"objective={objective!r}, not the Explainer+cls baseline."
      )
    cls_result, _, _ = evaluation.evaluate(
      cls, model, spec, dataset, s.split, s.top_n, s.batch_size
    )
    result["error"]["explainer_cls"] = cls_result["error"]["explainer"]
  io_utils.claim_dir(s.output_dir, "evaluation", "output_dir", s.overwrite)
  filter_parts, part_names = None, [str(p) for p in dataset.part_names]
  if np.any(np.isfinite(collected.landmarks)):
    filter_parts = assign_parts(collected, spec, s.top_n)
    result["filters_per_part"] = {
      name: int(np.sum(filter_parts == k)) for k, name in enumerate(part_names)
    }
  figure_list = []
  if s.make_figures and len(collected.samples.get("images", [])):
    figure_list = draw_figures(
      explainer,
      model,
      spec,
      data_lib.select(dataset, s.split),
      collected,
      per_filter,
      filter_parts,
      part_names,
      s.output_dir,
      result,
    )
  result["run"] = reproducibility.run_record(s.seed, s.deterministic)
  io_utils.write_json(os.path.join(s.output_dir, "metrics.json"), result)
  io_utils.write_text(os.path.join(s.output_dir, "report.md"), report.markdown(result, figure_list))
  if s.verbose:
    li = result["location_instability"]
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    print(
      f"Location instability: explainer {fmt(li['explainer'])}, performer top conv "
      f"{fmt(li['performer_top_conv'])}, target {fmt(li['performer_target'])}; "
      f"p = {result['p']:.3f}; error {result['error']['performer']:.3f} -> "
      f"{result['error']['explainer']:.3f}. Report: {os.path.join(s.output_dir, 'report.md')}"
    )
  return result
