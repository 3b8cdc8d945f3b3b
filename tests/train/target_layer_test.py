"""`target_layer`: an explainer that reads a lower layer than the performer's target."""

import json
import os
import tempfile

import numpy as np
import tensorflow as tf

from tests import tiny_run
from tf_explainer import evaluate_lib, export_lib, performers
from tf_explainer.models import io as model_io
from tf_explainer.train import explainer_lib, features as features_lib


def _tiny_vgg16(image_size=96):
  """An untrained VGG-16 at 1/8 width; at 96 px block4_conv3 is 12 x 12, block5_conv3
  6 x 6 and pool5 3 x 3."""
  return performers.build_performer("vgg16", 2, image_size=image_size, width=0.125, fc_units=8)


class RetargetTest(tf.test.TestCase):
  def test_a_lower_map_is_pooled_to_the_side_fc6_reads(self):
    model, spec = _tiny_vgg16()
    lower = performers.retarget(model, spec, "block4_conv3")
    self.assertEqual(lower.target_layer, "block4_conv3")
    self.assertEqual(lower.last_pool, {"pool_size": (4, 4), "strides": (4, 4), "padding": "valid"})
    self.assertEqual(spec.target_layer, "block5_conv2")  # the performer's spec is unchanged
    # A map of the top conv's side keeps the performer's last pooling.
    same = performers.retarget(model, spec, "block5_conv1")
    self.assertEqual(same.last_pool, spec.last_pool)
    self.assertIs(performers.retarget(model, spec, None), spec)
    self.assertIs(performers.retarget(model, spec, "block5_conv2"), spec)
    # The explainer built on it reads 12 x 12 maps and pools them to fc6's 3 x 3 x 64 input.
    explainer = explainer_lib.build_for_performer(model, lower)
    self.assertEqual(tuple(explainer.config.target_shape), (12, 12, 64))
    maps = np.random.default_rng(0).random((2, 12, 12, 64)).astype(np.float32)
    out = explainer(maps)
    self.assertEqual(tuple(out["fc6"].shape), (2, 8))

  def test_bad_layers_get_one_line(self):
    model, spec = _tiny_vgg16(image_size=112)  # block4_conv3 14 x 14, pool5 3 x 3
    for layer, message in (
      ("block9_conv1", r"target_layer=block9_conv1: the model has no such layer; candidates: "),
      ("fc6", r"target_layer=fc6: output shape \(None, 8\) is not a square map"),
      ("block5_pool", r"target_layer=block5_pool comes after the top conv layer block5_conv3"),
      (
        "block4_conv3",
        r"target_layer=block4_conv3: its 14 x 14 maps do not pool evenly to the "
        r"3 x 3 map that fc6 reads",
      ),
    ):
      with self.assertRaisesRegex(ValueError, message):
        performers.retarget(model, spec, layer)


class LowerTargetRunTest(tf.test.TestCase):
  def test_train_evaluate_export_follow_the_layer(self):
    p = tiny_run.paths()
    root = tempfile.mkdtemp()
    model, spec = _tiny_vgg16()
    performer_dir = os.path.join(root, "performer")
    model_io.save_performer(model, spec, performer_dir)
    explainer_dir = os.path.join(root, "explainer")
    explainer_lib.run(
      performer_dir=performer_dir,
      dataset_dir=p["data"],
      model_dir=explainer_dir,
      target_layer="block4_conv3",
      epochs=1,
      batch_size=8,
      verbose=0,
      monitor_every=0,
    )
    with open(os.path.join(explainer_dir, "explainer.json")) as f:
      self.assertEqual(json.load(f)["target_layer"], "block4_conv3")
    explainer, _, loaded, _ = model_io.load_explainer(explainer_dir)
    self.assertEqual(loaded.target_layer, "block4_conv3")
    self.assertEqual(tuple(explainer.config.target_shape), (12, 12, 64))
    # Its features are cached under another key than the performer's own target's.
    dataset = explainer_lib.data_lib.read_part_dataset(p["data"])
    self.assertNotEqual(
      features_lib.cache_key(performer_dir, dataset, 96, "train", "block4_conv3"),
      features_lib.cache_key(performer_dir, dataset, 96, "train"),
    )
    self.assertEqual(
      features_lib.cache_key(performer_dir, dataset, 96, "train", "block5_conv2"),
      features_lib.cache_key(performer_dir, dataset, 96, "train"),
    )
    result = evaluate_lib.run(
      explainer_dir=explainer_dir,
      dataset_dir=p["data"],
      output_dir=os.path.join(root, "evaluation"),
      split="all",
      verbose=0,
      make_figures=False,
    )
    self.assertIsNotNone(result["location_instability"]["explainer"])
    path = export_lib.run(explainer_dir=explainer_dir, export_base=os.path.join(root, "serving"))
    served = tf.saved_model.load(path).signatures["serving_default"](
      images=tf.constant(np.full((1, 96, 96, 3), 99.0, np.float32))
    )
    self.assertEqual(tuple(served["part_maps"].shape[1:3]), (12, 12))

  def test_the_api_passes_it_for_a_performer_folder(self):
    import tf_explainer as tfe

    p = tiny_run.paths()
    root = tempfile.mkdtemp()
    model, spec = _tiny_vgg16()
    model_io.save_performer(model, spec, os.path.join(root, "performer"))
    explainer = tfe.Explainer.from_performer(
      os.path.join(root, "performer"), target_layer="block4_conv3", work_dir=root, verbose=0
    )
    explainer.fit(p["data"], epochs=1, batch_size=8, monitor_every=0)
    saved = explainer.save(os.path.join(root, "saved"))
    self.assertEqual(model_io.load_explainer(saved)[2].target_layer, "block4_conv3")
    manifests = [
      json.load(open(os.path.join(folder, "explainer.json")))
      for folder in (explainer.explainer_dir, saved)
    ]
    self.assertIn("lambda_f_divisor", manifests[1]["loss"])  # the loss it trained with, kept
    self.assertEqual(manifests[0]["loss"], manifests[1]["loss"])
    self.assertEqual(explainer.explain(np.zeros((1, 96, 96, 3)))["part_maps"].shape[1], 12)


if __name__ == "__main__":
  tf.test.main()
