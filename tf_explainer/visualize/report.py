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


def _tracking_line(name, tracked):
  per_part = ", ".join(f"{part} {n}" for part, n in tracked["per_part"].items() if n)
  return (
    f"| {name} | {tracked['tracking']} of {tracked['filters']} ({_fmt(tracked['share'], True)}) "
    f"| {per_part or 'none'} | {tracked['tracking_patterns']} of {tracked['patterns']} |"
  )


def warnings(metrics):
  """What a reader must know before the tables: collapse, centre bias, p, Delta-error."""
  out = []
  per_part = metrics.get("filters_per_part") or {}
  total = sum(per_part.values())
  if total:
    part, count = max(per_part.items(), key=lambda item: item[1])
    if count >= 0.8 * total:
      out.append(
        f"The filters collapsed onto one part: {count} of {total} interpretable filters "
        f"peak nearest the {part}."
      )
  tracked = (metrics.get("part_tracking") or {}).get("explainer")
  if tracked and tracked["filters"] and tracked["patterns"] <= max(2, tracked["filters"] // 20):
    out.append(
      f"The {tracked['filters']} interpretable filters fire in only {tracked['patterns']} "
      "distinct peak pattern(s): most are copies of one another."
    )
  central = metrics.get("central_peak_share") or {}
  if (central.get("explainer") or 0) > 2 * max(central.get("performer_top_conv") or 0, 0.01):
    out.append(
      f"The explainer's peaks sit at the crop centre {central['explainer']:.1%} of the time, "
      f"against {central['performer_top_conv']:.1%} for the performer's top conv: a low "
      "location instability here partly reflects centre bias, not parts."
    )
  if metrics.get("p", 0) >= 0.95:
    out.append(
      f"p = {metrics['p']:.3f}: nearly all of the encoder output passes the interpretable "
      "track, so the ordinary track carries almost nothing."
    )
  delta = metrics["error"].get("delta")
  if delta is not None and delta > 0.02:
    out.append(
      f"The explainer's classification error is {100 * delta:.1f} points above the "
      "performer's: its reconstruction loses information the classifier uses."
    )
  return out


def summary(metrics):
  """The report's opening: what the explainer found, the warnings, and how to read them."""
  lines = ["## What the explainer found", ""]
  tracking = metrics.get("part_tracking")
  if tracking:
    t = tracking["explainer"]["thresholds"]
    lines += [
      f"A filter *tracks* a part when it fires on at least {t['min_firing']:.0%} of the "
      f"target images and its peak lands within {t['radius']:.3g} of the image side of that "
      f"part on at least {t['min_rate']:.0%} of them, {100 * t['min_margin']:.0f} points more "
      "often than on shuffled landmarks. Filters with the same peaks form one pattern.",
      "",
      "| layer | filters that track a part | per part | patterns that track / all |",
      "|---|---|---|---|",
      _tracking_line("Explainer", tracking["explainer"]),
      _tracking_line(f"{metrics['arch']} top conv", tracking["performer_top_conv"]),
      _tracking_line(f"{metrics['arch']} target layer", tracking["performer_target"]),
      "",
      "Control: a point fixed at the mean landmark has location instability "
      f"{_fmt(tracking['fixed_point'].get('location_instability'))} and tracks "
      f"{tracking['fixed_point']['tracking']} part(s).",
    ]
    perfect = tracking.get("perfect_tracker", {}).get("location_instability")
    if perfect is not None:  # metrics saved before this control lack it
      lines.append(
        f"A filter exactly on one part on every image would have {_fmt(perfect)}: the "
        "floor, left by how the other parts move against it."
      )
    lines.append("")
  elif metrics.get("filters_per_part"):
    per = ", ".join(f"{k} {v}" for k, v in metrics["filters_per_part"].items() if v)
    lines += [f"Interpretable filters by nearest part: {per}.", ""]
  found = warnings(metrics)
  if found:
    lines += ["**Warnings**", ""] + [f"- {w}" for w in found] + [""]
  lines += [
    "How to read this: part tracking says whether filters follow parts; location "
    "instability (lower is better) says how still a filter's peak stays relative to the "
    "parts, which a filter fixed at the centre also achieves, so read it beside the control "
    "above. p is the interpretable track's weight in the encoder; Delta-error is what the "
    "reconstruction costs the classifier.",
    "",
  ]
  return lines


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
    *summary(metrics),
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
