"""The end-to-end demo on the embedded synthetic data.

Generates the data (a labelled set and a set of extra images the explainer
uses without labels), trains a performer, distils an explainer, evaluates it,
exports a SavedModel and writes the report:

    tf-explainer-demo --work_dir=runs/demo
    python -m tf_explainer.cli.demo --work_dir=runs/demo     # the same

Defaults are sized for a 2-core CPU (about 14 minutes); every step shows a
progress bar and the last lines say where the report and the SavedModel are.
"""

import json
import os
import time

from tf_explainer import settings as settings_lib
from tf_explainer.configs import DemoSettings
from tf_explainer import io_utils


def resolved(s):
  """`s` with the defaults that depend on other settings filled in (the performer's start,
  epochs and schedule; 'none' frozen layers as None)."""
  if s.performer.weights is None:
    s.performer.weights = "synthetic" if s.network.arch == "alexnet" else "scratch"
  fine_tuned = s.performer.weights == "synthetic"
  if s.performer.epochs is None:
    s.performer.epochs = 25 if fine_tuned else 35
  if s.performer.learning_rate_schedule is None:
    s.performer.learning_rate_schedule = "cosine" if fine_tuned else "constant"
  if s.performer.freeze_through == "none":
    s.performer.freeze_through = None
  return s


def run(**settings):
  """Runs the whole pipeline; returns the paths and the metrics.

  Args:
    **settings: the fields of `DemoSettings`, by keyword.
  """
  s = resolved(settings_lib.build(DemoSettings, settings))
  from tf_explainer import data as data_lib

  data_lib.check_zoom(s.performer.zoom, "performer_zoom")
  check_shipped(s)
  from tf_explainer import evaluate_lib, export_lib

  paths = {
    name: os.path.join(s.work_dir, name)
    for name in ("data", "unlabeled", "performer", "explainer", "evaluation", "serving")
  }
  timings = {}
  record = StepRecord(s)

  def step(name):
    if s.verbose:
      print(f"\n== {name} ==", flush=True)
    timings[name] = time.time()

  def done(name):
    timings[name] = time.time() - timings[name]
    record.finished(name)

  outputs = step_outputs(s, paths)
  if record.reusable("data", outputs["data"]):
    unlabeled_dir = paths["unlabeled"] if s.unlabeled_images else None
  else:
    unlabeled_dir = data_step(s, paths, step, done)
  if not record.reusable("performer", outputs["performer"]):
    step("performer")
    performer_step(s, paths)
    done("performer")
  if not record.reusable("explainer", outputs["explainer"]):
    step("explainer")
    explainer_step(s, paths, unlabeled_dir)
    done("explainer")
  if record.reusable("evaluation", outputs["evaluation"]):
    metrics = io_utils.read_json(outputs["evaluation"][0])
  else:
    step("evaluation")
    metrics = evaluate_lib.run(
      explainer_dir=paths["explainer"],
      dataset_dir=paths["data"],
      output_dir=paths["evaluation"],
      verbose=s.verbose,
      seed=s.seed,
      deterministic=s.deterministic,
    )
    done("evaluation")
  saved_model = os.path.dirname(outputs["export"][0])
  if not record.reusable("export", outputs["export"]):
    step("export")
    saved_model = export_lib.run(
      explainer_dir=paths["explainer"],
      export_base=os.path.join(paths["serving"], "explainer"),
      version=1,
      overwrite=True,
    )
    done("export")
  report = os.path.join(paths["evaluation"], "report.md")
  if s.verbose:
    if timings:
      print("\nStep times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    print(f"Report:     {os.path.abspath(report)}")
    print(f"SavedModel: {os.path.abspath(saved_model)}")
  return {"report": report, "saved_model": saved_model, "metrics": metrics, "timings": timings}


class StepRecord:
  """Which steps of the demo finished, under which settings (`<work_dir>/demo_steps.json`).

  A step is reused when it finished under the same settings and package version and its
  outputs are still there, unless `restart`; once one step runs, every later one runs.
  """

  def __init__(self, s):
    from tf_explainer import __version__

    self.path = os.path.join(s.work_dir, "demo_steps.json")
    key = settings_lib.flat(s)
    for name in ("verbose", "restart", "work_dir"):
      key.pop(name)
    self.key = json.loads(json.dumps({**key, "version": __version__}, default=str))
    self.verbose = s.verbose
    self.steps = {}
    if not s.restart and os.path.exists(self.path):
      try:
        stored = io_utils.read_json(self.path)
      except ValueError:
        stored = {}
      if stored.get("settings") == self.key:
        self.steps = stored.get("finished", {})
    self.redoing = False

  def reusable(self, name, outputs):
    if self.redoing or not self.steps.get(name) or not all(map(os.path.exists, outputs)):
      self.redoing = True
      return False
    if self.verbose:
      print(f"== {name} == reused: finished earlier with these settings (--restart redoes it)")
    return True

  def finished(self, name):
    self.steps[name] = True
    io_utils.makedirs(os.path.dirname(self.path))
    io_utils.write_json(self.path, {"settings": self.key, "finished": self.steps})


def data_step(s, paths, step, done):
  """Generates the labelled and the unlabeled images; returns the unlabeled folder or None."""
  from tf_explainer.data import synthetic

  step("data")
  synthetic.generate(paths["data"], s.num_images, seed=s.seed, progress=s.verbose > 0)
  unlabeled_dir = None
  if s.unlabeled_images:
    # The explainer learns from the performer's outputs alone: images nobody
    # labelled (here: another seed of the generator) join its training set.
    unlabeled_dir = synthetic.generate(
      paths["unlabeled"],
      s.unlabeled_images,
      seed=s.seed + 1,
      train_fraction=1.0,
      progress=s.verbose > 0,
    )
  done("data")
  return unlabeled_dir


def check_shipped(s):
  """Refuses sizes the shipped pretrained network lacks, before anything is written."""
  if s.performer.weights != "synthetic":
    return
  from tf_explainer.performers import zoo

  shipped = zoo.card(s.network.arch)
  wanted = {name: shipped[name] for name in ("image_size", "width", "fc_units")}
  if any(float(getattr(s.network, name)) != float(value) for name, value in wanted.items()):
    raise ValueError(
      "performer_weights=synthetic (the default for alexnet) fine-tunes the shipped "
      f"{s.network.arch}, which needs "
      + ", ".join(f"{name}={value}" for name, value in wanted.items())
      + ": set them so, or pass --performer_weights=scratch."
    )


def step_outputs(s, paths):
  """The files whose presence says that each step finished."""
  return {
    "data": [os.path.join(paths["data"], "images.txt")]
    + ([os.path.join(paths["unlabeled"], "images.txt")] if s.unlabeled_images else []),
    "performer": [os.path.join(paths["performer"], "performer.keras")],
    "explainer": [os.path.join(paths["explainer"], "explainer.keras")],
    "evaluation": [os.path.join(paths["evaluation"], "metrics.json")],
    "export": [os.path.join(paths["serving"], "explainer", "1", "saved_model.pb")],
  }


def explainer_step(s, paths, unlabeled_dir):
  """Distils the demo's explainer."""
  from tf_explainer.train import explainer_lib

  explainer_lib.run(
    performer_dir=paths["performer"],
    dataset_dir=paths["data"],
    model_dir=paths["explainer"],
    epochs=s.explainer_epochs,
    mixed_precision=s.mixed_precision,
    seed=s.seed,
    deterministic=s.deterministic,
    unlabeled_dir=unlabeled_dir,
    verbose=s.verbose,
  )


def performer_step(s, paths):
  """Trains the demo's performer."""
  from tf_explainer.train import performer_lib

  performer_lib.run(
    dataset_dir=paths["data"],
    model_dir=paths["performer"],
    arch=s.network.arch,
    image_size=s.network.image_size,
    task=s.task,
    target_class=s.target_class if s.task == "single" else None,
    epochs=s.performer.epochs,
    width=s.network.width,
    fc_units=s.network.fc_units,
    learning_rate=s.performer.learning_rate,
    learning_rate_schedule=s.performer.learning_rate_schedule,
    zoom=s.performer.zoom,
    freeze_through=s.performer.freeze_through,
    weights=None if s.performer.weights == "scratch" else s.performer.weights,
    mixed_precision=s.mixed_precision,
    seed=s.seed,
    deterministic=s.deterministic,
    verbose=s.verbose,
  )
