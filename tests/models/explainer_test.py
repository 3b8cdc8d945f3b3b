"""Tests for tf_explainer.models.explainer: the network alone."""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tf_explainer.models import Explainer, ExplainerConfig

L, D, K = 6, 8, 3


def small_config(**overrides):
  values = dict(
    target_shape=(L, L, D),
    fc_sizes=(16, 12),
    fc_names=("fc_a", "fc_b"),
    num_classes=K,
    pool={"pool_size": 2, "strides": 2, "padding": "valid"},
  )
  values.update(overrides)
  return ExplainerConfig(**values)


def random_maps(n=4, seed=0):
  return np.random.default_rng(seed).random((n, L, L, D)).astype(np.float32)


class ExplainerNetworkTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    keras.utils.set_random_seed(1)

  def test_outputs(self):
    model = Explainer(small_config())
    out = model(random_maps())
    self.assertEqual(out["fc_a"].shape, (4, 16))
    self.assertEqual(out["fc_b"].shape, (4, 12))
    self.assertEqual(out["part_maps"].shape, (4, L, L, D))
    self.assertAllClose(out["p"], 0.5)
    self.assertTrue(np.all(out["fc_b"].numpy() >= 0))  # after ReLU

  def test_forward_returns_the_intermediate_maps(self):
    model = Explainer(small_config())
    out = model.forward(tf.constant(random_maps()))
    self.assertEqual(len(out["interp_maps"]), 2)
    self.assertEqual(len(out["masked"]), 2)
    self.assertEqual(out["ordin_map"].shape, (4, L, L, D))
    self.assertEqual(out["x_interp"].shape, (4, L // 2, L // 2, D))
    self.assertEqual(out["x_ordin"].shape, (4, L // 2, L // 2, D))
    self.assertEqual([f.shape[-1] for f in out["fc"]], [16, 12])
    self.assertAllClose(model.outputs_of(out)["part_maps"], out["masked"][-1])

  def test_holds_no_training_state(self):
    model = Explainer(small_config())
    # Only what inference reads: the NormLayers' statistics (and, with the
    # reference mask, each filter's mask sharpness).
    self.assertEqual({w.name for w in model.non_trainable_weights}, {"alpha", "num_updates"})
    icnn = Explainer(small_config(gradient="icnn"))
    self.assertEqual(
      {w.name for w in icnn.non_trainable_weights}, {"alpha", "num_updates", "filter_beta"}
    )

  def test_global_max_decoder_input_reads_each_maps_maximum(self):
    model = Explainer(small_config(decoder_input="global_max"))
    out = model.forward(tf.constant(random_maps()))
    self.assertEqual(out["x_interp"].shape, (4, 1, 1, D))
    self.assertEqual(model.get_layer("fc_dec_1").kernel.shape, (D, 16))
    rng = np.random.default_rng(0)
    fc6 = rng.random((3 * 3 * 5, 16)).astype(np.float32)  # (H, W, C_top) of a 3 x 3 pooled map
    model.initialize_from_performer(
      None, [(fc6, np.zeros(16, np.float32)), (np.ones((16, 12), np.float32), np.zeros(12))]
    )
    kernel = model.get_layer("fc_dec_1").kernel.numpy()
    self.assertAllClose(kernel[:5], fc6.reshape(3, 3, 5, 16).sum(axis=(0, 1)))
    self.assertAllClose(kernel[5:], np.zeros((D - 5, 16)))
    with self.assertRaisesRegex(ValueError, "decoder_input must be one of"):
      small_config(decoder_input="mean")

  def test_norm_images_all_takes_the_statistics_on_every_image(self):
    maps = tf.constant(random_maps())
    none = tf.zeros([4])  # a sample mask selecting no image
    for setting, updated in (("positives", False), ("all", True)):
      model = Explainer(small_config(norm_images=setting))
      model.forward(maps, training=True, sample_mask=none)
      self.assertEqual(float(model.norm_interp.num_updates.numpy()) > 0, updated, setting)
    with self.assertRaisesRegex(ValueError, "norm_images must be one of"):
      small_config(norm_images="faces")

  def test_rescaled_decoder_starts_by_computing_the_performers_fc_layers(self):
    rng = np.random.default_rng(3)
    conv_k, conv_b = rng.normal(size=(3, 3, D, D)), rng.normal(size=D) * 0.1
    fc = [
      (rng.normal(size=(3 * 3 * D, 16)), rng.normal(size=16)),
      (rng.normal(size=(16, 12)), rng.normal(size=12)),
    ]
    maps = random_maps(n=6)
    positive = np.array([1, 1, 0, 1, 0, 1], np.float32)
    # The performer: its top conv, last pooling and fc layers on the target maps.
    h = tf.nn.relu(tf.nn.conv2d(maps, conv_k.astype(np.float32), 1, "SAME") + conv_b)
    h = tf.reshape(tf.nn.max_pool2d(h, 2, 2, "VALID"), [6, -1])
    for kernel, bias in fc:
      h = tf.nn.relu(h @ kernel.astype(np.float32) + bias)
    outputs = {}
    for init in ("copy", "rescaled"):
      model = Explainer(small_config(interp_layers=1, mask=False, decoder_init=init))
      model.initialize_from_performer((conv_k, conv_b), fc)
      model.gate.w_p.assign(30.0)  # p = 1
      halves = [(maps[:3], positive[:3]), (maps[3:], positive[3:])]
      model.start_decoder(halves)
      # A training step's statistics: the first sets them (copy), later ones keep the
      # mean they already hold (rescaled, measured on the same images).
      model.forward(tf.constant(maps), training=True, sample_mask=positive)
      outputs[init] = model(maps)["fc_b"].numpy()
    self.assertAllClose(outputs["rescaled"], h, rtol=1e-4, atol=1e-3)
    self.assertGreater(np.abs(outputs["copy"] - h).max(), 1.0)  # the copy reads tiny inputs
    # The statistics: the mean over the positives of each channel's total, over both batches.
    totals = tf.reduce_sum(tf.nn.relu(model.forward(maps)["masked"][-1]), axis=[1, 2]).numpy()
    self.assertAllClose(model.norm_interp.alpha, totals[positive > 0].mean(axis=0), rtol=1e-5)
    # start_decoder counted as the first update, so the training step blended in.
    self.assertEqual(float(model.norm_interp.num_updates.numpy()), 2.0)
    with self.assertRaisesRegex(ValueError, "no image to measure"):
      Explainer(small_config(decoder_init="rescaled")).start_decoder([(maps, np.zeros(6))])
    with self.assertRaisesRegex(ValueError, "decoder_init must be one of"):
      small_config(decoder_init="scaled")

  def test_get_config_keeps_dtype_and_name(self):
    model = Explainer(small_config(), name="my_explainer", dtype="mixed_bfloat16")
    config = model.get_config()
    self.assertEqual(config["name"], "my_explainer")
    restored = Explainer.from_config(config)
    self.assertEqual(restored.name, "my_explainer")
    self.assertEqual(restored.dtype_policy.name, "mixed_bfloat16")
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "explainer.keras")
      model.save(path)
      loaded = keras.saving.load_model(path)
    self.assertEqual(loaded.name, "my_explainer")
    self.assertEqual(loaded.dtype_policy.name, "mixed_bfloat16")
    maps = random_maps()
    self.assertAllClose(loaded(maps)["part_maps"], model(maps)["part_maps"])

  def test_initialize_from_performer_copies_overlap(self):
    model = Explainer(small_config())
    rng = np.random.default_rng(0)
    conv = (rng.random((3, 3, D, 5)).astype(np.float32), rng.random(5).astype(np.float32))
    fc6 = (rng.random((3 * 3 * 5, 16)).astype(np.float32), rng.random(16).astype(np.float32))
    fc7 = (rng.random((16, 12)).astype(np.float32), rng.random(12).astype(np.float32))
    model.initialize_from_performer(conv, [fc6, fc7])
    kernel = model.get_layer("conv_interp_1").kernel.numpy()
    self.assertAllClose(kernel[..., :5], conv[0])
    fc6_kernel = model.get_layer("fc_dec_1").kernel.numpy().reshape(3, 3, D, 16)
    self.assertAllClose(fc6_kernel[:, :, :5], fc6[0].reshape(3, 3, 5, 16))
    self.assertAllClose(fc6_kernel[:, :, 5:], np.zeros((3, 3, D - 5, 16)))
    self.assertAllClose(model.get_layer("fc_dec_2").kernel, fc7[0])

  def test_bad_inputs(self):
    model = Explainer(small_config())
    with self.assertRaisesRegex(ValueError, r"\(6, 6, 8\).*\(2, 6, 6, 4\)"):
      model(np.zeros((2, L, L, 4), np.float32))
    with self.assertRaisesRegex(ValueError, r"\(6, 6, 8\).*\(6, 6, 8\)"):
      model(np.zeros((L, L, D), np.float32))
    with self.assertRaisesRegex(ValueError, r"square.*\(6, 5, 8\)"):
      small_config(target_shape=(6, 5, 8))
    with self.assertRaisesRegex(ValueError, "Unknown ExplainerConfig keys"):
      ExplainerConfig.from_dict({"target_shape": (6, 6, 8), "etta": 1.0})


if __name__ == "__main__":
  tf.test.main()
