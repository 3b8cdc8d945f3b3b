"""Tests for the training runs: files, resumption, annotations, configuration, errors."""

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from unittest import mock

import keras
import numpy as np
import tensorflow as tf

from tests import programs, tiny_run
from tf_explainer import data as data_lib
from tf_explainer import performers
from tf_explainer.train import callbacks as callbacks_lib
from tf_explainer import settings as config_lib
from tf_explainer.models import io as model_io
from tf_explainer.train import explainer_lib, features, performer_lib
from tf_explainer.train import monitor as monitor_lib


def last_error_line(result):
  lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
  return lines[-1] if lines else ""


def one_error_line(test, result, script):
  """The error of a failed script: status 1, no traceback, one `<script>: error:` line."""
  test.assertEqual(result.returncode, 1, result.stderr[-3000:])
  test.assertNotIn("Traceback", result.stderr)
  errors = [line for line in result.stderr.splitlines() if ": error: " in line]
  test.assertLen(errors, 1, result.stderr[-3000:])
  test.assertTrue(errors[0].startswith(f"{os.path.basename(script)}: error: "), errors[0])
  return errors[0]


class TrainingRunTest(tf.test.TestCase):
  def test_outputs(self):
    p = tiny_run.paths()
    for name in ("performer.keras", "performer.json", "logs"):
      self.assertTrue(os.path.exists(os.path.join(p["performer"], name)), name)
    for name in ("explainer.keras", "explainer.json", "logs", "feature_cache"):
      self.assertTrue(os.path.exists(os.path.join(p["explainer"], name)), name)
    explainer, model, spec, manifest = model_io.load_explainer(p["explainer"])
    self.assertEqual(manifest["performer_dir"], os.path.abspath(p["performer"]))
    self.assertEqual(tuple(explainer.config.target_shape), (6, 6, 48))
    self.assertGreater(p["explainer_metrics"]["lambda_f_mean"], 0)  # the rule set lambda_f
    self.assertEqual(spec.class_names[0], "001.bird")
    self.assertIsNone(explainer.config.filter_category)  # multi-category: by activation

  def test_single_category_filters_take_the_target_class(self):
    spec = performers.PerformerSpec(
      arch="alexnet", num_classes=2, image_size=131, fc_units=8, task="single", target_class=3
    )
    config = explainer_lib.explainer_config(spec, target_shape=(7, 7, 4))
    self.assertEqual(config.filter_category, 1)

  def test_unlabeled_images_join_the_distillation_set(self):
    p = tiny_run.paths()
    from tf_explainer.data import synthetic

    unlabeled = synthetic.generate(
      os.path.join(tempfile.mkdtemp(), "more"), 20, image_size=64, seed=7, progress=False
    )
    out = tempfile.mkdtemp()
    throughput = []

    class Images(keras.callbacks.Callback):
      def on_epoch_end(self, epoch, logs=None):
        throughput.append(self.params["steps"])

    explainer_lib.run(
      performer_dir=p["performer"],
      dataset_dir=p["data"],
      model_dir=out,
      unlabeled_dir=unlabeled,
      extra_callbacks=[Images()],
      **dict(tiny_run.EXPLAINER, epochs=1),
    )
    train_images = int(np.sum(explainer_lib.data_lib.read_part_dataset(p["data"]).is_train))
    self.assertEqual(throughput, [(train_images + 20) // 8])
    caches = sorted(os.listdir(os.path.join(out, "feature_cache")))
    self.assertEqual([c.split("-")[0] for c in caches], ["train", "unlabeled"])
    with open(os.path.join(out, "explainer.json")) as f:
      self.assertEqual(json.load(f)["unlabeled_dir"], os.path.abspath(unlabeled))
    with self.assertRaisesRegex(ValueError, r"unlabeled_dir=.*Explainer\+cls.*labels"):
      explainer_lib.run(
        performer_dir=p["performer"],
        dataset_dir=p["data"],
        model_dir=tempfile.mkdtemp(),
        unlabeled_dir=unlabeled,
        objective="classification",
        **tiny_run.EXPLAINER,
      )

  def test_rescaled_decoder_starts_from_the_training_maps_statistics(self):
    p = tiny_run.paths()
    model, spec = model_io.load_performer(p["performer"])
    copy = explainer_lib.build_for_performer(model, spec).get_layer("fc_dec_1").kernel.numpy()
    seen = {}

    class AtStart(keras.callbacks.Callback):
      def on_train_begin(self, logs=None):
        explainer = self.model.explainer
        seen["updates"] = float(explainer.norm_interp.num_updates.numpy())
        seen["alpha"] = explainer.norm_interp.alpha.numpy()
        seen["kernel"] = explainer.get_layer("fc_dec_1").kernel.numpy()

    out = tempfile.mkdtemp()
    explainer_lib.run(
      performer_dir=p["performer"],
      dataset_dir=p["data"],
      model_dir=out,
      decoder_init="rescaled",
      extra_callbacks=[AtStart()],
      **dict(tiny_run.EXPLAINER, epochs=1),
    )
    self.assertEqual(seen["updates"], 1.0)  # measured before the first step
    channels = seen["alpha"].shape[0]
    expected = copy.reshape(-1, channels, copy.shape[-1]) * seen["alpha"][None, :, None]
    self.assertAllClose(seen["kernel"], expected.reshape(copy.shape), rtol=1e-5)
    _, _, _, manifest = model_io.load_explainer(out)
    self.assertEqual(manifest["config"]["decoder_init"], "rescaled")

  def test_the_training_policy_stays_with_the_run(self):
    """Evaluating after training in one process runs as in a fresh one: under the policy the
    caller had, whether the run returns or raises."""
    p = tiny_run.paths()
    explainer, _ = explainer_lib.run(
      performer_dir=p["performer"],
      dataset_dir=p["data"],
      model_dir=tempfile.mkdtemp(),
      mixed_precision="mixed_bfloat16",
      **dict(tiny_run.EXPLAINER, epochs=1),
    )
    self.assertEqual(explainer.dtype_policy.name, "mixed_bfloat16")
    self.assertEqual(keras.mixed_precision.global_policy().name, "float32")
    with self.assertRaisesRegex(ValueError, "jit_compile=True with deterministic=True"):
      explainer_lib.run(
        performer_dir=p["performer"],
        dataset_dir=p["data"],
        model_dir=tempfile.mkdtemp(),
        mixed_precision="mixed_bfloat16",
        jit_compile=True,
        deterministic=True,
      )
    self.assertEqual(keras.mixed_precision.global_policy().name, "float32")

  def test_feature_cache_reused_and_invalidated(self):
    p = tiny_run.paths()
    model, spec = model_io.load_performer(p["performer"])
    from tf_explainer.data import read_part_dataset, select

    train = select(read_part_dataset(p["data"]), "train")
    cache_dir = tempfile.mkdtemp()
    _, first = features.cached_features(
      model, spec, p["performer"], train, cache_dir, "train", progress=False
    )
    stamp = os.path.getmtime(os.path.join(first, "complete.json"))
    _, again = features.cached_features(
      model, spec, p["performer"], train, cache_dir, "train", progress=False
    )
    self.assertEqual(first, again)
    self.assertEqual(stamp, os.path.getmtime(os.path.join(again, "complete.json")))
    fewer = train.subset(np.arange(len(train)) < len(train) - 1)
    _, other = features.cached_features(
      model, spec, p["performer"], fewer, cache_dir, "train", progress=False
    )
    self.assertNotEqual(first, other)
    self.assertEqual(os.listdir(cache_dir), [os.path.basename(other)])  # the old one pruned
    ds = tf.data.Dataset.load(other)
    self.assertEqual(
      set(ds.element_spec), {"maps", *spec.fc_names, "category", "positive", "index"}
    )
    self.assertEqual(sum(1 for _ in ds), len(fewer))

  def test_equivariance_trains_on_cached_zoomed_crops(self):
    """With equivariance_weight the cache holds each image's crop (its box from zoom_boxes,
    the performer's target map of the crop), under a key of its own, and the term is logged."""
    p = tiny_run.paths()
    model, spec = model_io.load_performer(p["performer"])
    from tf_explainer.data import make_dataset, read_part_dataset, select

    train = select(read_part_dataset(p["data"]), "train")
    out = tempfile.mkdtemp()
    _, metrics = explainer_lib.run(
      performer_dir=p["performer"],
      dataset_dir=p["data"],
      model_dir=out,
      equivariance_weight=1.0,
      **dict(tiny_run.EXPLAINER, epochs=1),
    )
    self.assertGreater(metrics["equivariance"], 0)
    (name,) = os.listdir(os.path.join(out, "feature_cache"))
    key = features.cache_key(p["performer"], train, spec.image_size, "train", zoom=True)
    self.assertEqual(name, f"train-{key}")
    self.assertNotEqual(key, features.cache_key(p["performer"], train, spec.image_size, "train"))
    cached = next(iter(tf.data.Dataset.load(os.path.join(out, "feature_cache", name)).batch(4)))
    boxes = features.zoom_boxes(len(train))[cached["index"].numpy()]
    self.assertAllClose(cached["box"], boxes)
    images = next(iter(make_dataset(train, spec.image_size, batch_size=len(train), cache=False)))
    crops = tf.image.crop_and_resize(
      tf.gather(images["images"], cached["index"]), boxes, np.arange(4), (spec.image_size,) * 2
    )
    probe = performers.feature_model(model, spec)
    self.assertAllClose(cached["warped"], probe(crops)["target"], atol=1e-4)
    self.assertAllClose(
      cached["maps"], probe(tf.gather(images["images"], cached["index"]))["target"], atol=1e-4
    )

  def test_caching_and_evaluation_show_progress(self):
    import contextlib
    import io
    from tf_explainer import evaluation
    from tf_explainer.data import read_part_dataset, select, task_labels

    p = tiny_run.paths()
    model, spec = model_io.load_performer(p["performer"])
    train = select(read_part_dataset(p["data"]), "train")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
      features.cached_features(
        model, spec, p["performer"], train, tempfile.mkdtemp(), "train", progress=True
      )
    self.assertIn(f"{len(train)}/{len(train)}", out.getvalue())
    explainer, _, _, _ = model_io.load_explainer(p["explainer"])
    labels = task_labels(train.labels, spec.task, spec.target_class)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
      collected = evaluation.collect(explainer, model, spec, train, labels, progress=True)
    self.assertIn(f"{len(train)}/{len(train)}", out.getvalue())
    # The compiled step gives what the layers give eagerly.
    batch = next(iter(tf.data.Dataset.from_tensor_slices(collected.samples["images"]).batch(4)))
    eager = explainer(evaluation.probe_model(model, spec)(batch)["target"])["part_maps"]
    self.assertAllClose(collected.samples["explainer"][:4], eager, atol=1e-4)

  def test_feature_cache_key_covers_every_image_and_the_policy(self):
    p = tiny_run.paths()
    from tf_explainer.data import read_part_dataset

    data = os.path.join(tempfile.mkdtemp(), "data")
    shutil.copytree(p["data"], data)
    dataset = read_part_dataset(data)
    key = features.cache_key(p["performer"], dataset, 115, "train")
    for k in range(len(dataset)):  # whichever image is rewritten, the key changes
      path = dataset.image_paths[k]
      before = os.stat(path)
      os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1000))
      self.assertNotEqual(features.cache_key(p["performer"], dataset, 115, "train"), key, k)
      os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    self.assertEqual(features.cache_key(p["performer"], dataset, 115, "train"), key)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
      self.assertNotEqual(features.cache_key(p["performer"], dataset, 115, "train"), key)
    finally:
      keras.config.set_dtype_policy("float32")

  def test_no_annotation_reaches_the_loss(self):
    """Training on data whose labels and landmarks are scrambled gives the same explainer."""
    p = tiny_run.paths()
    scrambled = os.path.join(tempfile.mkdtemp(), "data")
    shutil.copytree(p["data"], scrambled)
    rng = np.random.default_rng(0)
    with open(os.path.join(scrambled, "image_class_labels.txt")) as f:
      rows = [line.split() for line in f if line.strip()]
    labels = rng.permutation([r[1] for r in rows])
    with open(os.path.join(scrambled, "image_class_labels.txt"), "w") as f:
      f.writelines(f"{r[0]} {label}\n" for r, label in zip(rows, labels))
    with open(os.path.join(scrambled, "parts", "part_locs.txt")) as f:
      locs = [line.split() for line in f if line.strip()]
    with open(os.path.join(scrambled, "parts", "part_locs.txt"), "w") as f:
      f.writelines(
        f"{a} {b} {rng.uniform(0, 60):.1f} {rng.uniform(0, 60):.1f} 1\n" for a, b, *_ in locs
      )
    # The pairs the explainer trains on hold performer outputs only.
    model, spec = model_io.load_performer(p["performer"])
    from tf_explainer.data import read_part_dataset

    pairs = features.to_training_pairs(
      features.feature_dataset(model, spec, read_part_dataset(scrambled)), spec.fc_names
    )
    self.assertEqual(set(pairs.element_spec[1]), {"fc6", "fc7", "category", "positive"})
    outputs = []
    for data in (p["data"], scrambled):
      out = os.path.join(tempfile.mkdtemp(), "explainer")
      explainer, _ = explainer_lib.run(
        performer_dir=p["performer"], dataset_dir=data, model_dir=out, **tiny_run.EXPLAINER
      )
      outputs.append([w.numpy() for w in explainer.weights])
    for a, b in zip(*outputs):
      self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)

  def test_train_without_validation_split(self):
    """While settings are chosen, performer and explainer never see validation images."""
    p = tiny_run.paths()
    dataset = explainer_lib.data_lib.read_part_dataset(p["data"])
    fit = int(np.sum(explainer_lib.data_lib.split_mask(dataset, "train_without_validation")))
    self.assertLess(fit, int(np.sum(dataset.is_train)))
    steps = []

    class Steps(keras.callbacks.Callback):
      def on_epoch_end(self, epoch, logs=None):
        steps.append(self.params["steps"])

    performer_dir = tempfile.mkdtemp()
    from tf_explainer.train import performer_lib  # pylint: disable=import-outside-toplevel

    _, spec, _ = performer_lib.run(
      dataset_dir=p["data"],
      model_dir=performer_dir,
      train_split="train_without_validation",
      extra_callbacks=[Steps()],
      **tiny_run.PERFORMER,
    )
    self.assertEqual(spec.train_split, "train_without_validation")
    explainer_dir = tempfile.mkdtemp()
    explainer_lib.run(
      performer_dir=performer_dir,
      dataset_dir=p["data"],
      model_dir=explainer_dir,
      train_split="train_without_validation",
      extra_callbacks=[Steps()],
      **dict(tiny_run.EXPLAINER, epochs=1),
    )
    batch = tiny_run.PERFORMER["batch_size"]
    self.assertEqual(steps, [-(-fit // batch), fit // tiny_run.EXPLAINER["batch_size"]])
    with open(os.path.join(explainer_dir, "explainer.json")) as f:
      self.assertEqual(json.load(f)["train_split"], "train_without_validation")
    with self.assertRaisesRegex(
      ValueError, "train_split=validation: expected one of train, train_without_validation"
    ):
      explainer_lib.run(
        performer_dir=performer_dir,
        dataset_dir=p["data"],
        model_dir=tempfile.mkdtemp(),
        train_split="validation",
        **tiny_run.EXPLAINER,
      )

  def test_resume_after_sigkill(self):
    """SIGKILL mid-training; the same command resumes and ends where an uninterrupted run does."""
    p = tiny_run.paths()
    out = os.path.join(tempfile.mkdtemp(), "explainer")
    base = [
      sys.executable,
      os.path.join(programs.REPO, "training/train_explainer.py"),
      f"--performer_dir={p['performer']}",
      f"--dataset_dir={p['data']}",
      "--epochs=40",
      "--batch_size=8",
      "--deterministic",
      "--monitor_every=0",
    ]
    command = base + [f"--model_dir={out}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
      command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    metadata = os.path.join(out, "backup", "training_metadata.json")
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
      if os.path.exists(metadata):
        try:
          with open(metadata) as f:
            if json.load(f)["epoch"] >= 2:
              break
        except (ValueError, OSError):
          pass
      time.sleep(0.05)
    self.assertIsNone(process.poll(), "training finished before it could be killed")
    process.send_signal(signal.SIGKILL)
    process.wait()
    self.assertFalse(os.path.exists(os.path.join(out, "explainer.keras")))
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    epochs = [int(m) for m in re.findall(r"Epoch (\d+)/40", result.stdout)]
    self.assertGreater(epochs[0], 2)
    self.assertEqual(epochs[-1], 40)
    self.assertTrue(os.path.exists(os.path.join(out, "explainer.keras")))
    self.assertNotIn("Skipping variable loading for optimizer", result.stderr)
    whole = os.path.join(tempfile.mkdtemp(), "explainer")
    result = subprocess.run(
      base + [f"--model_dir={whole}"], capture_output=True, text=True, env=env, timeout=600
    )
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    resumed = keras.saving.load_model(os.path.join(out, "explainer.keras"))
    uninterrupted = keras.saving.load_model(os.path.join(whole, "explainer.keras"))
    for a, b in zip(resumed.weights, uninterrupted.weights):
      self.assertAllClose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, msg=a.path)


class ErrorsTest(tf.test.TestCase):
  def test_expected_errors_are_one_line_and_leave_no_folder(self):
    p = tiny_run.paths()
    root = tempfile.mkdtemp()
    broken = os.path.join(root, "broken")
    shutil.copytree(p["data"], broken)
    os.remove(os.path.join(broken, "bounding_boxes.txt"))
    config = os.path.join(root, "bad.json")
    with open(config, "w") as f:
      json.dump({"epochs": 1.7}, f)
    performer = [
      "training/train_performer.py",
      "--image_size=115",
      "--width=0.125",
      "--fc_units=16",
      "--epochs=1",
    ]
    explainer = ["training/train_explainer.py", f"--performer_dir={p['performer']}"]
    cases = [
      (performer + [f"--dataset_dir={root}/nowhere"], r"nowhere"),
      (performer + [f"--dataset_dir={broken}"], r"bounding_boxes.txt: missing file"),
      (
        performer + [f"--dataset_dir={p['data']}", "--task=single", "--target_class=9"],
        r"--target_class=9 is not a class id",
      ),
      (
        performer[:-1] + [f"--dataset_dir={p['data']}", f"--config={config}"],
        r"bad value 1.7 for epochs",
      ),
      (
        explainer + [f"--dataset_dir={p['data']}", "--icnn_centre=argmax"],
        r"--icnn_centre=argmax applies only to --gradient=icnn, not --gradient=approx",
      ),
      (
        explainer + [f"--dataset_dir={p['data']}", "--overlap_cap=0.1"],
        r"--overlap_cap=0.1 weighs the overlap term: set --overlap_weight=W > 0",
      ),
      (
        performer + [f"--dataset_dir={p['data']}", "--arch=vgg_m", "--weights=w.h5"],
        r"--weights=w.h5 applies to --arch=alexnet .* not --arch=vgg_m",
      ),
      (
        explainer + [f"--dataset_dir={p['data']}", "--batch_size=4096"],
        r"--batch_size=4096 is larger than the \d+ training images",
      ),
      (
        ["training/train_explainer.py", f"--performer_dir={root}", f"--dataset_dir={p['data']}"],
        r"holds no performer",
      ),
    ]
    for k, (args, pattern) in enumerate(cases):
      out = os.path.join(root, f"out{k}")
      result = programs.run(args[0], *args[1:], f"--model_dir={out}")
      self.assertRegex(one_error_line(self, result, args[0]), pattern)
      self.assertFalse(os.path.exists(out), f"{args} left {out} behind")
    # Evaluation of an empty explainer folder, and an export over an existing version.
    result = programs.run(
      "training/evaluate.py",
      f"--explainer_dir={root}",
      f"--dataset_dir={p['data']}",
      f"--output_dir={root}/eval",
    )
    self.assertRegex(one_error_line(self, result, "evaluate.py"), r"explainer")
    self.assertFalse(os.path.exists(os.path.join(root, "eval")))
    os.makedirs(os.path.join(root, "serving", "1"))
    result = programs.run(
      "export/export_savedmodel.py",
      f"--explainer_dir={p['explainer']}",
      f"--export_base={root}/serving",
      "--version=1",
    )
    self.assertRegex(one_error_line(self, result, "export_savedmodel.py"), r"exists already")

  def test_foreign_output_folders_are_refused(self):
    p = tiny_run.paths()
    user = tempfile.mkdtemp()
    with open(os.path.join(user, "config.json"), "w") as f:
      f.write("the user's own")
    for args in (
      [
        "training/train_performer.py",
        f"--dataset_dir={p['data']}",
        "--epochs=1",
        f"--model_dir={user}",
      ],
      [
        "training/train_explainer.py",
        f"--performer_dir={p['performer']}",
        f"--dataset_dir={p['data']}",
        f"--model_dir={user}",
      ],
      [
        "training/evaluate.py",
        f"--explainer_dir={p['explainer']}",
        f"--dataset_dir={p['data']}",
        f"--output_dir={user}",
      ],
      [
        "training/train_explainer.py",
        f"--performer_dir={p['performer']}",
        f"--dataset_dir={p['data']}",
        f"--model_dir={p['performer']}",
      ],
    ):
      result = programs.run(args[0], *args[1:])
      self.assertRegex(
        one_error_line(self, result, args[0]),
        r"is not empty and holds "
        r"(files this tool did not write|the output of another step \(performer)",
      )
      with open(os.path.join(user, "config.json")) as f:
        self.assertEqual(f.read(), "the user's own")
      self.assertEqual(os.listdir(user), ["config.json"])

  def test_empty_performer_dir(self):
    p = tiny_run.paths()
    empty = tempfile.mkdtemp()
    result = programs.run(
      "training/train_explainer.py",
      f"--performer_dir={empty}",
      f"--dataset_dir={p['data']}",
      f"--model_dir={tempfile.mkdtemp()}",
    )
    self.assertNotEqual(result.returncode, 0)
    self.assertRegex(last_error_line(result), r"--performer_dir=.* holds no performer")

  def test_no_positives(self):
    p = tiny_run.paths()
    result = programs.run(
      "training/train_performer.py",
      f"--dataset_dir={p['data']}",
      f"--model_dir={tempfile.mkdtemp()}",
      "--task=single",
      "--target_class=unicorn",
      "--image_size=115",
      "--width=0.125",
    )
    self.assertNotEqual(result.returncode, 0)
    self.assertRegex(last_error_line(result), r"--target_class=unicorn is not a class")

  def test_unknown_config_key(self):
    p = tiny_run.paths()
    config = os.path.join(tempfile.mkdtemp(), "config.json")
    with open(config, "w") as f:
      json.dump({"epochs": 1, "learning_rat": 0.1}, f)
    result = programs.run(
      "training/train_explainer.py",
      f"--performer_dir={p['performer']}",
      f"--dataset_dir={p['data']}",
      f"--model_dir={tempfile.mkdtemp()}",
      f"--config={config}",
    )
    self.assertNotEqual(result.returncode, 0)
    self.assertRegex(last_error_line(result), r"--config=.*unknown key 'learning_rat'")

  def test_target_class_is_an_id_of_classes_txt_or_a_name(self):
    p = tiny_run.paths()
    dataset = data_lib.read_part_dataset(p["data"])
    self.assertEqual(performer_lib.class_index("1", dataset, "d"), 0)  # id 1: the first class
    self.assertEqual(performer_lib.class_index(2, dataset, "d"), 1)
    self.assertEqual(performer_lib.class_index("cat", dataset, "d"), 1)
    self.assertEqual(performer_lib.class_index("003.cow", dataset, "d"), 2)
    for bad, pattern in (
      ("0", r"target_class=0 is not a class id .*ids 1\.\.6; 1-based"),
      ("7", r"target_class=7 is not a class id"),
      ("unicorn", r"target_class=unicorn is not a class"),
    ):
      with self.assertRaisesRegex(ValueError, pattern):
        performer_lib.class_index(bad, dataset, "d")

  def test_target_class_printed_and_refused_for_multi(self):
    p = tiny_run.paths()
    args = [
      f"--dataset_dir={p['data']}",
      "--image_size=115",
      "--width=0.125",
      "--fc_units=16",
      "--epochs=1",
      "--batch_size=8",
    ]
    result = programs.run(
      "training/train_performer.py",
      f"--model_dir={tempfile.mkdtemp()}",
      "--task=single",
      "--target_class=1",
      *args,
    )
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertIn("Target class: 001.bird (id 1 in classes.txt).", result.stdout)
    result = programs.run(
      "training/train_performer.py", f"--model_dir={tempfile.mkdtemp()}", "--target_class=1", *args
    )
    self.assertNotEqual(result.returncode, 0)
    self.assertRegex(
      last_error_line(result), r"--target_class=1 applies only to --task=single, not --task=multi"
    )

  def test_nan_loss_message(self):
    history = keras.callbacks.History()
    history.history = {"loss": [1.0, float("nan")]}
    with self.assertRaisesRegex(FloatingPointError, r"loss became nan in epoch 2.*checkpoints"):
      callbacks_lib.check_finite(history, "/tmp/model")

  def test_a_run_at_chance_stops_with_a_message(self):
    # Logits fixed at zero: the loss is exactly ln 6 every epoch.
    model = keras.Sequential(
      [keras.Input((3,)), keras.layers.Dense(6, kernel_initializer="zeros", trainable=False)]
    )
    model.compile(
      optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    x, y = np.ones((12, 3), "float32"), np.arange(12) % 6
    stop = callbacks_lib.StopAtChance(6, patience=3)
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[stop])
    self.assertLen(history.history["loss"], 3)
    with self.assertRaisesRegex(
      ValueError,
      r"Training in /tmp/model stopped in epoch 3: the training loss stayed at chance "
      r"\(ln 6 = 1.792\) for 3 epochs.*mixed_precision=float32",
    ):
      callbacks_lib.check_learning(stop, "/tmp/model")
    # A loss that leaves chance resets the count; a learning run is not stopped.
    learning = callbacks_lib.StopAtChance(6, patience=3)
    learning.set_model(model)
    for epoch, loss in enumerate([1.792, 1.79, 1.5, 1.791, 1.792]):
      learning.on_epoch_end(epoch, {"loss": loss})
    self.assertIsNone(learning.stopped_epoch)
    callbacks_lib.check_learning(learning, "/tmp/model")


class ConfigTest(tf.test.TestCase):
  def test_file_under_command_line(self):
    from absl import flags

    values = flags.FlagValues()
    flags.DEFINE_integer("epochs", 10, "", flag_values=values)
    flags.DEFINE_float("learning_rate", 0.1, "", flag_values=values)
    flags.DEFINE_string("config", None, "", flag_values=values)
    values(["prog", "--epochs=3"])
    path = os.path.join(tempfile.mkdtemp(), "c.json")
    with open(path, "w") as f:
      json.dump({"epochs": 7, "learning_rate": 0.5}, f)
    params = config_lib.resolve(values, path, ("epochs", "learning_rate"))
    self.assertEqual(params, {"epochs": 3, "learning_rate": 0.5})
    self.assertEqual(values.learning_rate, 0.1)  # flags are not modified
    saved = config_lib.save(params, tempfile.mkdtemp())
    with open(saved) as f:
      self.assertEqual(json.load(f), params)

  def _values(self):
    from absl import flags

    values = flags.FlagValues()
    flags.DEFINE_integer("epochs", 10, "", lower_bound=1, flag_values=values)
    flags.DEFINE_float("width", None, "", flag_values=values)
    flags.DEFINE_string("weights", None, "", flag_values=values)
    flags.DEFINE_boolean("deterministic", False, "", flag_values=values)
    flags.DEFINE_enum("task", "multi", ["single", "multi"], "", flag_values=values)
    flags.DEFINE_list("seeds", ["0"], "", flag_values=values)
    values(["prog"])
    return values

  def _resolve(self, content):
    path = os.path.join(tempfile.mkdtemp(), "c.json")
    with open(path, "w") as f:
      json.dump(content, f)
    names = ("epochs", "width", "weights", "deterministic", "task", "seeds")
    return config_lib.resolve(self._values(), path, names)

  def test_saved_values_round_trip(self):
    content = {
      "epochs": 3,
      "width": 0.25,
      "weights": None,
      "deterministic": True,
      "task": "single",
      "seeds": ["1", "2"],
    }
    self.assertEqual(self._resolve(content), content)
    self.assertEqual(self._resolve({"epochs": 4.0, "width": 1})["epochs"], 4)
    self.assertEqual(self._resolve({"width": 1})["width"], 1.0)

  def test_bad_values_name_file_and_key(self):
    for content, pattern in (
      (
        {"epochs": 1.7},
        r"c.json: bad value 1.7 for epochs; expected an "
        r"integer",
      ),
      ({"epochs": None}, r"c.json: epochs is null; expected int"),
      ({"epochs": 0}, r"bad value '0' for epochs"),
      ({"task": "both"}, r"bad value 'both' for task"),
      ({"epochs": [1]}, r"bad value \[1\] for epochs; expected int, not"),
    ):
      with self.assertRaisesRegex(ValueError, r"--config=.*" + pattern):
        self._resolve(content)

  def test_script_config_round_trip(self):
    p = tiny_run.paths()
    first = os.path.join(tempfile.mkdtemp(), "a")
    args = [
      f"--dataset_dir={p['data']}",
      "--image_size=115",
      "--width=0.125",
      "--fc_units=16",
      "--epochs=1",
      "--batch_size=8",
    ]
    result = programs.run("training/train_performer.py", f"--model_dir={first}", *args)
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    second = os.path.join(tempfile.mkdtemp(), "b")
    result = programs.run(
      "training/train_performer.py",
      f"--model_dir={second}",
      f"--config={os.path.join(first, 'config.json')}",
    )
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    with (
      open(os.path.join(first, "config.json")) as f,
      open(os.path.join(second, "config.json")) as g,
    ):
      a, b = json.load(f), json.load(g)
    self.assertEqual(set(a), {"paths", "network", "training", "runtime"})  # nested by group
    self.assertEqual(a["paths"].pop("model_dir"), first)
    self.assertEqual(b["paths"].pop("model_dir"), second)
    self.assertEqual(a, b)


class NestedSettingsTest(tf.test.TestCase):
  """The explainer's settings in groups: flat flags and keywords, nested config.json."""

  def _flags(self):
    from absl import flags

    from tf_explainer.configs import ExplainerSettings

    values = flags.FlagValues()
    config_lib.define_flags(ExplainerSettings, values)
    values(["prog", "--performer_dir=p", "--dataset_dir=d", "--model_dir=m", "--epochs=3"])
    return values

  def test_flat_keywords_land_in_their_groups(self):
    from tf_explainer.configs import ExplainerSettings

    s = config_lib.build(
      ExplainerSettings,
      {"performer_dir": "p", "dataset_dir": "d", "model_dir": "m", "lambda_f_divisor": 3},
    )
    self.assertEqual(s.paths.model_dir, "m")
    self.assertEqual(s.loss.lambda_f_divisor, 3.0)
    self.assertEqual(s.training.epochs, 10)
    self.assertEqual(config_lib.flat(s)["lambda_f_divisor"], 3.0)
    with self.assertRaisesRegex(ValueError, r"`lambda_f` is not a setting of ExplainerSettings"):
      config_lib.build(ExplainerSettings, {"lambda_f": 1})
    with self.assertRaisesRegex(ValueError, r"^batch_size=0: expected at least 2\.$"):
      config_lib.build(
        ExplainerSettings,
        {"performer_dir": "p", "dataset_dir": "d", "model_dir": "m", "batch_size": 0},
      )

  def test_nested_file_and_old_flat_file(self):
    from tf_explainer.configs import ExplainerSettings

    values = self._flags()
    folder = tempfile.mkdtemp()
    nested = {"loss": {"lambda_f_divisor": 30.0}, "training": {"epochs": 7, "batch_size": 16}}
    flat = {"lambda_f_divisor": 30.0, "epochs": 7, "batch_size": 16}
    for name, content in (("nested.json", nested), ("flat.json", flat)):
      with open(os.path.join(folder, name), "w") as f:
        json.dump(content, f)
    names = config_lib.leaf_names(ExplainerSettings)
    names = tuple(n for n in names if n in values)
    with mock.patch("sys.stderr", new_callable=io.StringIO) as err:
      a = config_lib.resolve(values, os.path.join(folder, "nested.json"), names, ExplainerSettings)
    self.assertEqual(err.getvalue(), "")
    with mock.patch("sys.stderr", new_callable=io.StringIO) as err:
      b = config_lib.resolve(values, os.path.join(folder, "flat.json"), names, ExplainerSettings)
    self.assertEqual(a, b)
    self.assertEqual((a["epochs"], a["batch_size"], a["lambda_f_divisor"]), (3, 16, 30.0))
    self.assertLen(err.getvalue().strip().splitlines(), 1)
    self.assertIn("flat.json is flat", err.getvalue())
    saved = config_lib.nested(ExplainerSettings, a)
    self.assertEqual(saved["training"]["epochs"], 3)
    self.assertEqual(saved["loss"]["lambda_f_divisor"], 30.0)
    self.assertEqual(set(saved), {"paths", "training", "loss", "runtime", "ablations"})
    with open(os.path.join(folder, "bad.json"), "w") as f:
      json.dump({"loss": {"epochs": 3}}, f)
    with self.assertRaisesRegex(ValueError, r"bad.json: unknown key loss.epochs"):
      config_lib.resolve(values, os.path.join(folder, "bad.json"), names, ExplainerSettings)

  def test_the_trainer_owns_the_loss(self):
    """lambda_f_divisor: flag -> LossSettings -> ExplainerTrainer(loss) -> the lambda_f rule."""
    from tf_explainer.configs import LAMBDA_F_DIVISOR, LossSettings
    from tf_explainer.models.explainer import ExplainerConfig
    from tf_explainer.train import trainer as trainer_lib

    config = ExplainerConfig(target_shape=(6, 6, 4), fc_sizes=(8,), fc_names=("fc7",))
    self.assertIsNone(LossSettings().lambda_f_divisor)  # unset: the trainer gives the paper's
    self.assertEqual(trainer_lib.resolved_loss(None, config).lambda_f_divisor, LAMBDA_F_DIVISOR)
    self.assertFalse(hasattr(config, "lambda_f_divisor"))  # the network's config: shape only
    trainer = trainer_lib.ExplainerTrainer(config, LossSettings(lambda_f_divisor=7.0))
    self.assertEqual(trainer.loss_settings.lambda_f_divisor, 7.0)
    self.assertEqual(trainer.loss_settings.eta, 1e6)  # unset: AlexNet's, the caller's default
    with self.assertRaisesRegex(ValueError, r"gradient=icnn: the explainer's masks were built"):
      trainer_lib.ExplainerTrainer(config, LossSettings(gradient="icnn"))
    old = dict(config.to_dict(), eta=3.0, lambda_f_divisor=30.0, objective="reconstruction")
    self.assertEqual(ExplainerConfig.from_dict(old), config)  # a config saved before the split
    self.assertEqual(ExplainerConfig.legacy_loss(old)["lambda_f_divisor"], 30.0)


class MonitorTest(tf.test.TestCase):
  def test_writes_metrics_and_images_to_tensorboard(self):
    p = tiny_run.paths()
    out = os.path.join(tempfile.mkdtemp(), "explainer")
    explainer_lib.run(
      performer_dir=p["performer"],
      dataset_dir=p["data"],
      model_dir=out,
      monitor_every=1,
      monitor_split="all",
      **dict(tiny_run.EXPLAINER, epochs=2),
    )
    events = os.path.join(out, "logs", "monitor")
    tags = set()
    for name in os.listdir(events):
      for record in tf.data.TFRecordDataset(os.path.join(events, name)):
        event = tf.compat.v1.Event.FromString(record.numpy())
        tags.update(v.tag for v in event.summary.value)
    for tag in (
      "p",
      "error/performer",
      "error/explainer",
      "location_instability/performer_top_conv",
      "location_instability/explainer",
      "part_maps",
    ):
      self.assertIn(tag, tags)

  def test_measures_through_one_compiled_function(self):
    # A new tf.function per measurement retraced it every time (and TensorFlow
    # warned about retracing during training); one is traced once per batch shape.
    p = tiny_run.paths()
    explainer, performer, spec, _ = model_io.load_explainer(p["explainer"])
    data = data_lib.read_part_dataset(p["data"])
    monitor = monitor_lib.ExplainerMonitor(
      performer, spec, data.subset(np.arange(12)), tempfile.mkdtemp(), every=1, top_n=4
    )
    monitor.set_model(types.SimpleNamespace(explainer=explainer))
    for epoch in range(4):
      monitor.on_epoch_end(epoch)
    self.assertEqual([r["epoch"] for r in monitor.history], [1, 2, 3, 4])
    self.assertEqual(monitor.step.experimental_get_tracing_count(), 1)  # 12 images: one batch


class NoPositivesTest(tf.test.TestCase):
  def test_target_class_without_training_images(self):
    p = tiny_run.paths()
    data = os.path.join(tempfile.mkdtemp(), "data")
    shutil.copytree(p["data"], data)
    with open(os.path.join(data, "image_class_labels.txt")) as f:
      birds = {line.split()[0] for line in f if line.split()[1] == "1"}
    with open(os.path.join(data, "train_test_split.txt")) as f:
      rows = [line.split() for line in f if line.strip()]
    with open(os.path.join(data, "train_test_split.txt"), "w") as f:
      f.writelines(f"{i} {0 if i in birds else s}\n" for i, s in rows)
    from tf_explainer.train import performer_lib

    with self.assertRaisesRegex(ValueError, r"no training images of target_class=001\.bird"):
      performer_lib.run(
        dataset_dir=data,
        model_dir=tempfile.mkdtemp(),
        task="single",
        target_class="bird",
        **{k: v for k, v in tiny_run.PERFORMER.items() if k != "verbose"},
      )


if __name__ == "__main__":
  tf.test.main()
