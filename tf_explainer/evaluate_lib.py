"""Evaluation run: metrics.json, figures and the report (library of training/evaluate.py)."""

import os

import numpy as np

from tf_explainer import data as data_lib
from tf_explainer import evaluation, io_utils
from tf_explainer import metrics as metrics_lib
from tf_explainer.train import explainer_lib, reproducibility
from tf_explainer.visualize import figures, report


def assign_parts(collected, spec, top_n):
  """Each interpretable filter's part: the landmark nearest its peaks on average.

  Nearest, not most stable: the spread of distances to the object's centre is
  small for any filter, so stability alone says little about where it fires.
  Filters whose peaks scatter over the object still land on its central part.
  """
  rows = collected.labels == 1 if spec.task == "single" else np.ones(len(collected.labels), bool)
  distances = metrics_lib.filter_landmark_distances(
      collected.peaks["explainer"][rows], collected.scores["explainer"][rows],
      collected.landmarks[rows], top_n)
  distances = np.where(np.isnan(distances), np.inf, distances)
  return np.argmin(distances, axis=1)


def receptive_fields(explainer, model, spec, subset, collected, filter_parts, part_names, path,
                     filters=6, images=4):
  """The receptive-field figure: each chosen filter on its top images of the whole split."""
  rows, wanted = [], {}
  for name in ("explainer", "performer_top_conv"):
    scores = collected.scores[name]
    parts = filter_parts if name == "explainer" else None
    chosen = figures.choose_filters(scores, filters, parts)
    wanted[name] = (chosen, figures.top_images(scores, chosen, images))
  needed = np.unique(np.concatenate([top.ravel() for _, top in wanted.values()]))
  pictures = evaluation.maps_of(explainer, model, spec, subset.subset(needed))
  position = {int(n): k for k, n in enumerate(needed)}
  for name, (chosen, top) in wanted.items():
    for f, images_of_f in zip(chosen, top):
      at = [position[int(n)] for n in images_of_f]
      part = (f", {part_names[filter_parts[f]]}" if name == "explainer" and
              filter_parts is not None else "")
      label = f"{'explainer' if name == 'explainer' else 'top conv'}\nfilter {f}{part}"
      rows.append((name, label, pictures["images"][at], pictures[name][at][..., f]))
  figures.receptive_field_figure(rows, evaluation.layer_mappings(model, spec), spec.image_size,
                                 path)


def run(explainer_dir, dataset_dir, output_dir, split="test", top_n=100, batch_size=32,
        make_figures=True, explainer_cls_dir=None, verbose=1, seed=0, deterministic=False,
        overwrite=False, on_error="fail"):
  """Evaluates the explainer in `explainer_dir`; writes `metrics.json` and `report.md`.

  With `explainer_cls_dir` (an Explainer+cls baseline of the same performer),
  its classification error is added as `error.explainer_cls`.

  Returns:
    The metrics dict, which records under `"run"` the seed, the determinism
    setting, the CPU and the library versions.
  """
  reproducibility.configure(seed, deterministic)
  explainer, model, spec, _ = explainer_lib.load_explainer(explainer_dir)
  dataset = data_lib.read_checked(dataset_dir, on_error, verbose)
  if verbose:
    print(f"Evaluating on the {split} split", flush=True)
  result, collected, _ = evaluation.evaluate(explainer, model, spec, dataset, split, top_n,
                                             batch_size, progress=verbose > 0)
  if explainer_cls_dir:
    cls, _, _, _ = explainer_lib.load_explainer(explainer_cls_dir)
    if cls.config.objective != "classification":
      raise ValueError(f"--explainer_cls_dir={explainer_cls_dir} holds an explainer trained with "
                       f"objective={cls.config.objective!r}, not the Explainer+cls baseline.")
    cls_result, _, _ = evaluation.evaluate(cls, model, spec, dataset, split, top_n, batch_size)
    result["error"]["explainer_cls"] = cls_result["error"]["explainer"]
  io_utils.claim_dir(output_dir, "evaluation", "output_dir", overwrite)
  filter_parts, part_names = None, [str(p) for p in dataset.part_names]
  if np.any(np.isfinite(collected.landmarks)):
    filter_parts = assign_parts(collected, spec, top_n)
    result["filters_per_part"] = {name: int(np.sum(filter_parts == k))
                                  for k, name in enumerate(part_names)}
  figure_list = []
  if make_figures and len(collected.samples.get("images", [])):
    samples = collected.samples
    path = os.path.join(output_dir, "receptive_fields.png")
    receptive_fields(explainer, model, spec, data_lib.select(dataset, split), collected,
                     filter_parts, part_names, path)
    figure_list.append(("Receptive fields of six interpretable filters (one per part first) "
                        "and six top-conv filters, each on its four top images of the split",
                        path))
    grads = figures.class_score_gradients(explainer, model, spec, samples["images"])
    path = os.path.join(output_dir, "grad_cam.png")
    figures.grad_cam_figure(samples["images"], grads, spec.image_size, path)
    figure_list.append(("Grad-CAM of the explainer and of the performer", path))
    if filter_parts is not None:
      shares = figures.part_contributions(*grads["explainer"], filter_parts, len(part_names))
      path = os.path.join(output_dir, "part_contributions.png")
      figures.contribution_figure(samples["images"], shares, part_names, path)
      figure_list.append(("Part contributions to the class score", path))
      result["mean_part_share"] = {name: float(shares[:, k].mean())
                                   for k, name in enumerate(part_names)}
  result["run"] = reproducibility.run_record(seed, deterministic)
  io_utils.write_json(os.path.join(output_dir, "metrics.json"), result)
  io_utils.write_text(os.path.join(output_dir, "report.md"), report.markdown(result, figure_list))
  if verbose:
    li = result["location_instability"]
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    print(f"Location instability: explainer {fmt(li['explainer'])}, performer top conv "
          f"{fmt(li['performer_top_conv'])}, target {fmt(li['performer_target'])}; "
          f"p = {result['p']:.3f}; error {result['error']['performer']:.3f} -> "
          f"{result['error']['explainer']:.3f}. Report: {os.path.join(output_dir, 'report.md')}")
  return result
