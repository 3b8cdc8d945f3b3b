"""The Markdown report of an evaluation, with tables laid out like the paper's."""

import os


def _fmt(value, percent=False):
  if value is None:
    return "n/a"
  return f"{100 * value:.2f}%" if percent else f"{value:.4f}"


def _start(weights):
  """Where the performer's training started, in words."""
  if weights in (None, "scratch"):
    return "trained from scratch"
  if weights == "synthetic":
    return "fine-tuned from the pretrained weights shipped with the package"
  return f"fine-tuned from {weights}"


def markdown(metrics, figures, title="Explainer evaluation"):
  """Report text: instability table, p, errors, notes and figures."""
  li = metrics["location_instability"]
  err = metrics["error"]
  lines = [
    f"# {title}",
    "",
    f"Performer: {metrics['arch']} {_start(metrics.get('performer_weights'))}, "
    f"{metrics['protocol']}-category protocol, "
    f"{metrics['num_images']} test images, top_n = {metrics['top_n']}.",
    "",
    "## Location instability (lower is better; Table 1 / Table 5 layout)",
    "",
    "| layer | location instability |",
    "|---|---|",
    f"| {metrics['arch']} (target layer) | {_fmt(li.get('performer_target'))} |",
    f"| {metrics['arch']} (top conv layer) | {_fmt(li.get('performer_top_conv'))} |",
    f"| Explainer | {_fmt(li.get('explainer'))} |",
  ]
  if li.get("explainer") is not None and li.get("performer_top_conv"):
    lines += ["", f"Explainer / top conv: {li['explainer'] / li['performer_top_conv']:.3f}."]
  lines += [
    "",
    "## Contribution of the interpretable track (Table 2 layout)",
    "",
    "| | p |",
    "|---|---|",
    f"| {metrics['arch']} | {metrics['p']:.4f} |",
    "",
  ]
  share = metrics.get("interpretable_share")
  if share:
    lines += [
      "Share of the interpretable track in the encoder output, by category "
      "(`sum |p x_interp| / (sum |p x_interp| + sum |(1 - p) x_ordin|)`):",
      "",
      "| category | share |",
      "|---|---|",
    ]
    lines += [f"| {name} | {value:.4f} |" for name, value in share.items()]
    lines += [""]
  lines += [
    "## Classification error (Table 3 layout)",
    "",
    "| Performer | Explainer | Delta error |",
    "|---|---|---|",
    f"| {_fmt(err['performer'], True)} | {_fmt(err['explainer'], True)} | "
    f"{_fmt(err['delta'], True)} |",
  ]
  if err.get("explainer_cls") is not None:
    lines += [
      "",
      f"Explainer+cls error: {_fmt(err['explainer_cls'], True)} "
      f"(Delta {_fmt(err['explainer_cls'] - err['performer'], True)}).",
    ]
  if metrics.get("notes"):
    lines += ["", "## Notes", ""] + [f"- {note}" for note in metrics["notes"]]
  if figures:
    lines += ["", "## Figures", ""]
    for caption, path in figures:
      lines += [f"### {caption}", "", f"![{caption}]({os.path.basename(path)})", ""]
  return "\n".join(lines) + "\n"
