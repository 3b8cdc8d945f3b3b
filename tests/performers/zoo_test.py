"""Tests for tf_explainer.performers.zoo: shipped weights, checksums, --weights=synthetic."""

import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from tf_explainer import performers
from tf_explainer.data import synthetic
from tf_explainer.performers import zoo
from tf_explainer.train import performer_lib, pretrain


def _small(num_classes, seed):
  tf.keras.utils.set_random_seed(seed)
  return performers.build_performer("alexnet", num_classes, 115, width=0.125, fc_units=16)


class ZooTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp()
    model, spec = _small(24, seed=1)
    self.model, self.spec = model, spec
    self.weights, self.card = zoo.export_synthetic(model, spec, {"test_accuracy": 0.5}, self.dir)

  def test_round_trip_all_but_the_classifier(self):
    other, spec = _small(6, seed=2)
    card = zoo.load_synthetic(other, "alexnet", spec.classifier_layer, self.dir)
    self.assertEqual(card["test_accuracy"], 0.5)
    self.assertEqual(card["sha256"], zoo.sha256(self.weights))
    for layer in other.layers:
      if not layer.weights:
        continue
      source = [w.numpy() for w in self.model.get_layer(layer.name).weights]
      target = [w.numpy() for w in layer.weights]
      if layer.name == spec.classifier_layer:  # 6 classes, not 24: left as initialised
        self.assertNotEqual(source[0].shape, target[0].shape)
      else:
        for a, b in zip(source, target):
          self.assertAllEqual(a, b)

  def test_changed_file_fails_its_checksum(self):
    with open(self.weights, "r+b") as f:
      f.seek(100)
      byte = f.read(1)
      f.seek(100)
      f.write(bytes([byte[0] ^ 0xFF]))
    other, spec = _small(6, seed=2)
    before = [w.numpy() for w in other.weights]
    with self.assertRaisesRegex(ValueError, "fails its checksum"):
      zoo.load_synthetic(other, "alexnet", spec.classifier_layer, self.dir)
    for a, b in zip(before, other.weights):  # nothing was set
      self.assertAllEqual(a, b.numpy())

  def test_one_line_errors(self):
    with self.assertRaisesRegex(ValueError, r"no synthetic weights are shipped for arch=vgg_m"):
      zoo.card("vgg_m", self.dir)
    with self.assertRaisesRegex(ValueError, r"width=0.5 differs .*width = 0.125"):
      zoo.check_settings("alexnet", {"width": 0.5, "fc_units": None}, self.dir)
    self.assertEqual(zoo.check_settings("alexnet", {"width": None}, self.dir)["fc_units"], 16)
    wider, spec = performers.build_performer("alexnet", 6, 115, width=0.25, fc_units=16)
    with self.assertRaisesRegex(ValueError, "layer 'conv1' of alexnet has shape"):
      zoo.load_synthetic(wider, "alexnet", spec.classifier_layer, self.dir)
    os.remove(self.weights)
    with self.assertRaisesRegex(ValueError, "is missing"):
      zoo.load_synthetic(wider, "alexnet", spec.classifier_layer, self.dir)

  def test_pretraining_keeps_its_corpus(self):
    # A work folder keeps the corpus it was drawn with: refused before any training.
    work = os.path.join(self.dir, "work")
    synthetic.generate(
      os.path.join(work, "corpus"), 24, 48, progress=False, corpus="pretrain_shapes"
    )
    with self.assertRaisesRegex(
      ValueError,
      r"work_dir=.*corpus holds the corpus pretrain_shapes of 24 species, not pretrain of 24: "
      "use another",
    ):
      pretrain.run(work_dir=work, weights_dir=self.dir)
    # ... and the number of species it was drawn with.
    synthetic.generate(
      os.path.join(work, "corpus"), 30, 48, progress=False, corpus="pretrain", species=30
    )
    with self.assertRaisesRegex(
      ValueError, r"corpus holds the corpus pretrain of 30 species, not pretrain of 24: use another"
    ):
      pretrain.run(work_dir=work, weights_dir=self.dir)
    self.assertFalse(os.path.exists(os.path.join(work, "alexnet")))


class TwoStagePretrainingTest(tf.test.TestCase):
  def test_second_stage_starts_from_the_first_and_resumes(self):
    work, out = tempfile.mkdtemp(), tempfile.mkdtemp()
    settings = dict(
      work_dir=work,
      weights_dir=out,
      num_images=48,
      epochs=1,
      shape_epochs=1,
      width=0.125,
      fc_units=16,
      command="t",
    )
    weights, card_path, accuracy = pretrain.run(**settings)
    with open(card_path) as f:
      card = json.load(f)
    self.assertLen(card["stages"], 2)
    first, second = card["stages"]
    self.assertIn("corpus=pretrain,", first["data"]["corpus"] + ",")
    self.assertIn("corpus=pretrain_shapes", second["data"]["corpus"])
    self.assertEqual(
      (first["training"]["start"], second["training"]["start"]),
      ("scratch", "the previous stage's network"),
    )
    self.assertEqual(card["test_accuracy"], second["test_accuracy"])
    # Both stages trained the network of the width asked for, and the card says so.
    self.assertEqual((card["width"], card["fc_units"]), (0.125, 16))
    self.assertEqual([st["training"]["width"] for st in card["stages"]], [0.125, 0.125])
    self.assertEqual(accuracy, second["test_accuracy"])
    self.assertEqual(
      synthetic.CORPORA["pretrain_shapes"].keys(), synthetic.CORPORA["pretrain"].keys()
    )
    # The second stage fine-tuned the first stage's exported network.
    with (
      np.load(os.path.join(work, "alexnet-weights", "alexnet_synthetic.npz")) as a,
      np.load(weights) as b,
    ):
      self.assertEqual(sorted(a.files), sorted(b.files))
      self.assertTrue(any(not np.array_equal(a[k], b[k]) for k in a.files))
    # Every stage exists, so a second call only evaluates and exports: same weights.
    digest = zoo.sha256(weights)
    pretrain.run(**settings)
    self.assertEqual(zoo.sha256(weights), digest)
    # A finished stage is not reused under other settings: refused, nothing written.
    with self.assertRaisesRegex(
      ValueError, r"work_dir=.*alexnet-shapes was trained with epochs=1, not 2: use another"
    ):
      pretrain.run(**dict(settings, shape_epochs=2))
    with self.assertRaisesRegex(
      ValueError, r"work_dir=.*alexnet was trained with width=0.125, not 0.25: use another"
    ):
      pretrain.run(**dict(settings, width=0.25))
    self.assertEqual(zoo.sha256(weights), digest)
    model, spec = performers.build_performer("alexnet", 6, 131, width=0.125, fc_units=16)
    zoo.load_synthetic(model, "alexnet", spec.classifier_layer, out)


class ContinuedPretrainingTest(tf.test.TestCase):
  def test_shape_stage_continues_from_earlier_weights(self):
    earlier, work = tempfile.mkdtemp(), tempfile.mkdtemp()
    self.addCleanup(tf.keras.mixed_precision.set_global_policy, "float32")
    tiny = dict(num_images=48, epochs=1, shape_epochs=1)
    weights, card_path, _ = pretrain.run(
      work_dir=os.path.join(work, "a"), weights_dir=earlier, command="first", **tiny
    )
    with open(card_path) as f:
      first_card = json.load(f)
    with np.load(weights) as stored:
      before = {k: stored[k] for k in stored.files}
    # Written over the weights it starts from, as continue_from=shipped does by default.
    settings = dict(
      work_dir=os.path.join(work, "b"),
      weights_dir=earlier,
      continue_from=earlier,
      learning_rate_schedule="cosine",
      mixed_precision="mixed_bfloat16",
      command="second",
      **tiny,
    )
    for _ in range(2):  # the rerun finds the stage done and lists the earlier ones once
      weights, card_path, accuracy = pretrain.run(**settings)
      self.assertEqual(tf.keras.mixed_precision.global_policy().name, "float32")
      with open(card_path) as f:
        card = json.load(f)
      self.assertEqual(card["stages"][:2], first_card["stages"])
      self.assertLen(card["stages"], 3)
      self.assertEqual(card["command"], "first && second")
    third = card["stages"][2]
    self.assertIn("corpus=pretrain_shapes", third["data"]["corpus"])
    self.assertEqual(third["training"]["start"], "the previous stage's network")
    self.assertEqual(third["training"]["learning_rate_schedule"], "cosine")
    self.assertEqual(third["training"]["mixed_precision"], "mixed_bfloat16")
    self.assertEqual(card["stages"][1]["training"]["mixed_precision"], "float32")
    self.assertEqual(card["test_accuracy"], accuracy)
    self.assertFalse(os.path.exists(os.path.join(work, "b", "corpus")))  # no first stage
    with np.load(weights) as stored:
      self.assertTrue(any(not np.array_equal(before[k], stored[k]) for k in stored.files))
    with self.assertRaisesRegex(ValueError, r"continue_from=.* set shape_epochs >= 1"):
      pretrain.run(**dict(settings, work_dir=os.path.join(work, "c"), shape_epochs=0))


class ShippedWeightsTest(tf.test.TestCase):
  """The weights in the package itself."""

  def test_every_shipped_network_loads_into_its_architecture(self):
    for arch in zoo.available():
      card = zoo.card(arch)
      self.assertEqual(card["arch"], arch)
      model, spec = performers.build_performer(
        arch, 6, card["image_size"], width=card["width"], fc_units=card["fc_units"]
      )
      zoo.load_synthetic(model, arch, spec.classifier_layer)
      with np.load(zoo.paths(arch)[0]) as shipped:
        for layer in model.layers:
          if layer.weights and layer.name != spec.classifier_layer:
            self.assertAllEqual(layer.weights[0].numpy(), shipped[f"{layer.name}/0"])

  def test_shipped_alexnet_loads_and_fine_tunes(self):
    self.assertIn("alexnet", zoo.available())
    card = zoo.card("alexnet")
    for key in (
      "command",
      "test_accuracy",
      "stages",
      "sha256",
      "width",
      "fc_units",
      "image_size",
    ):
      self.assertIn(key, card)
    self.assertLess(os.path.getsize(zoo.paths("alexnet")[0]), 10e6)
    # Shipped: both pretraining stages, the shape-only one last.
    self.assertEqual(
      [stage["data"]["corpus"].rsplit("=", 1)[1] for stage in card["stages"]],
      ["pretrain", "pretrain_shapes"],
    )
    root = tempfile.mkdtemp()
    data = synthetic.generate(os.path.join(root, "d"), 24, image_size=64, progress=False)
    model, spec, _ = performer_lib.run(
      dataset_dir=data,
      model_dir=os.path.join(root, "p"),
      arch="alexnet",
      weights="synthetic",
      epochs=1,
      batch_size=8,
      verbose=0,
    )
    self.assertEqual(
      (spec.width, spec.fc_units, spec.image_size),
      (card["width"], card["fc_units"], card["image_size"]),
    )
    self.assertEqual(spec.weights, "synthetic")
    with open(os.path.join(root, "p", "performer.json")) as f:
      self.assertEqual(json.load(f)["weights"], "synthetic")
    with np.load(zoo.paths("alexnet")[0]) as shipped:
      start = shipped["conv1/0"]
    tuned = model.get_layer("conv1").weights[0].numpy()
    # Fine-tuned from the shipped weights: near them, not at a fresh initialisation.
    self.assertLess(np.abs(tuned - start).max(), 0.05 * np.abs(start).max())
    with self.assertRaisesRegex(ValueError, "image_size=227 differs"):
      performer_lib.run(
        dataset_dir=data,
        model_dir=os.path.join(root, "q"),
        arch="alexnet",
        weights="synthetic",
        image_size=227,
        epochs=1,
        verbose=0,
      )
    self.assertFalse(os.path.exists(os.path.join(root, "q")))
    with self.assertRaisesRegex(ValueError, "synthetic_dir=.* applies only to weights=synthetic"):
      performer_lib.run(
        dataset_dir=data,
        model_dir=os.path.join(root, "q"),
        arch="alexnet",
        synthetic_dir=root,
        epochs=1,
        verbose=0,
      )
    self.assertFalse(os.path.exists(os.path.join(root, "q")))
    shutil.rmtree(root)


if __name__ == "__main__":
  tf.test.main()
