"""Tests for tf_explainer.train.trainer: the explainer's loss, training state and step."""

import dataclasses
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tf_explainer import settings
from tf_explainer.configs import LossSettings
from tf_explainer.models import ExplainerConfig
from tf_explainer.train import trainer as trainer_lib

L, D, K = 6, 8, 3


def small_config(**overrides):
  values = dict(
    target_shape=(L, L, D),
    fc_sizes=(16, 12),
    fc_names=("fc6", "fc7"),
    num_classes=K,
    pool={"pool_size": 2, "strides": 2, "padding": "valid"},
  )
  values.update(overrides)
  return ExplainerConfig(**values)


NETWORK_KEYS = {f.name for f in dataclasses.fields(ExplainerConfig)}
LOSS_KEYS = set(settings.leaf_names(LossSettings))


def build(optimizer=None, **kwargs):
  """A compiled trainer of the small network: the network's settings among `kwargs` go to
  its config, the loss's to its `LossSettings` (eta 10), the rest to `compile`."""
  network = {k: kwargs.pop(k) for k in list(kwargs) if k in NETWORK_KEYS}
  loss = {k: kwargs.pop(k) for k in list(kwargs) if k in LOSS_KEYS}
  loss.setdefault("gradient", network.get("gradient", "approx"))
  return trainer_lib.build_trainer(
    small_config(**network), optimizer, loss=LossSettings(**{"eta": 10.0, **loss}), **kwargs
  )


def random_batch(n=32, seed=0):
  rng = np.random.default_rng(seed)
  maps = rng.random((n, L, L, D)).astype(np.float32)
  targets = {
    "fc6": rng.random((n, 16)).astype(np.float32),
    "fc7": rng.random((n, 12)).astype(np.float32),
    "category": rng.integers(0, K, n).astype(np.int32),
  }
  return maps, targets


def zoomed_batch(n=32, seed=0):
  """`random_batch` with each image's zoomed-in crop: its box, and the maps zoomed alike."""
  maps, targets = random_batch(n, seed)
  rng = np.random.default_rng(seed + 1)
  side = rng.uniform(0.6, 0.9, n)
  start = rng.uniform(0.0, 1.0 - side[:, None], (n, 2))
  boxes = np.concatenate([start, start + side[:, None]], 1).astype(np.float32)
  targets["box"] = boxes
  targets["warped"] = tf.image.crop_and_resize(maps, boxes, np.arange(n), (L, L)).numpy()
  return maps, targets


class ExplainerTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    keras.utils.set_random_seed(1)

  def test_icnn_gradient_trains_with_the_reference_mask_and_adaptive_beta(self):
    model = build(gradient="icnn", optimizer=keras.optimizers.Adam(1e-2))
    self.assertEqual([m.mode for m in model.explainer.interp_masks], ["icnn", "icnn"])
    start = [m.filter_beta.numpy().copy() for m in model.explainer.interp_masks]
    self.assertAllClose(start[0], np.full(D, 2.0))
    maps, targets = random_batch(64)
    model.set_reconstruction_weights([1.0, 1.0])
    history = model.fit(
      maps, targets, batch_size=16, epochs=2, verbose=0, callbacks=[trainer_lib.LambdaFUpdate()]
    )
    self.assertTrue(np.all(np.isfinite(history.history["filter_loss"])))
    for layer in model.explainer.interp_masks:  # moved from 2 into [1.5, 3]
      beta = layer.filter_beta.numpy()
      self.assertFalse(np.allclose(beta, 2.0))
      self.assertTrue(np.all((beta >= 1.5 - 1e-6) & (beta <= 3.0 + 1e-6)))
    fixed = build(gradient="icnn", icnn_beta="fixed", optimizer=keras.optimizers.Adam(1e-2))
    fixed.set_reconstruction_weights([1.0, 1.0])
    fixed.fit(maps, targets, batch_size=16, epochs=1, verbose=0)
    self.assertAllClose(fixed.explainer.interp_masks[0].filter_beta, np.full(D, 2.0))
    path = os.path.join(tempfile.mkdtemp(), "icnn.keras")
    model.explainer.save(path)
    loaded = keras.saving.load_model(path)
    self.assertAllClose(loaded(maps[:4])["part_maps"], model(maps[:4])["part_maps"])
    with self.assertRaisesRegex(ValueError, "icnn_centre must be one of"):
      small_config(gradient="icnn", icnn_centre="middle")

  def test_identity_init_passes_the_first_layer_through(self):
    model = build(interp_init="identity")
    maps, _ = random_batch(4)
    out = model.explainer.forward(tf.constant(maps))
    self.assertAllClose(out["interp_maps"][1], out["masked"][0])
    path = os.path.join(tempfile.mkdtemp(), "identity.keras")
    model.explainer.save(path)
    loaded = keras.saving.load_model(path)
    self.assertEqual(loaded.config.interp_init, "identity")
    self.assertAllClose(loaded(maps)["part_maps"], model(maps)["part_maps"])
    with self.assertRaisesRegex(ValueError, "interp_init must be one of"):
      small_config(interp_init="zeros")

  def test_without_mask_part_maps_are_the_unmasked_maps(self):
    model = build(mask=False)
    maps, _ = random_batch(4)
    out = model.explainer.forward(tf.constant(maps))
    self.assertAllClose(out["masked"][-1], out["interp_maps"][-1])
    masked = build().explainer.forward(tf.constant(maps))
    self.assertLess(
      np.count_nonzero(masked["masked"][-1]), np.count_nonzero(masked["interp_maps"][-1])
    )

  def test_training_lowers_loss_and_reports_terms(self):
    model = build(optimizer=keras.optimizers.Adam(1e-2))
    maps, targets = random_batch(64)
    model.set_reconstruction_weights([1.0, 1.0])
    before = model.evaluate(maps, targets, batch_size=64, verbose=0, return_dict=True)
    history = model.fit(
      maps, targets, batch_size=16, epochs=5, verbose=0, callbacks=[trainer_lib.LambdaFUpdate()]
    )
    after = model.evaluate(maps, targets, batch_size=64, verbose=0, return_dict=True)
    self.assertLess(after["reconstruction"], before["reconstruction"])
    self.assertLess(history.history["loss"][-1], history.history["loss"][0])
    names = ("rec_fc6", "rec_fc7", "log_p_term", "filter_loss_1", "filter_loss_2", "p", "overlap")
    for name in names:
      self.assertIn(name, history.history)
      self.assertTrue(np.all(np.isfinite(history.history[name])))
    self.assertTrue(np.all(model.lambda_f.numpy() > 0))
    self.assertEqual(float(model.epoch.numpy()), 6.0)

  def test_overlap_weight_spreads_the_part_maps(self):
    """The (non-paper) overlap term lowers the overlap it measures; off, it is only logged."""
    maps, targets = random_batch(64)
    overlaps = {}
    for weight in (0.0, 1e3):
      keras.utils.set_random_seed(0)
      model = build(overlap_weight=weight, optimizer=keras.optimizers.Adam(1e-2))
      model.set_reconstruction_weights([1.0, 1.0])
      history = model.fit(maps, targets, batch_size=16, epochs=5, verbose=0)
      overlaps[weight] = history.history["overlap"][-1]
      if weight == 0.0:
        self.assertAllClose(
          history.history["loss"][-1],
          history.history["reconstruction"][-1]
          + history.history["log_p_term"][-1]
          + history.history["filter_loss"][-1],
          rtol=1e-4,
        )
    self.assertLess(overlaps[1e3], 0.8 * overlaps[0.0])

  def trained_term(self, maps, targets, term, weight, **loss):
    """A small trainer with the `loss` settings, after 5 epochs: its last logged `term`, and
    the trainer; checks that the loss is the sum of its terms, `term` weighted by `weight`."""
    keras.utils.set_random_seed(0)
    model = build(optimizer=keras.optimizers.Adam(1e-2), **loss)
    model.set_reconstruction_weights([1.0, 1.0])
    history = model.fit(maps, targets, batch_size=16, epochs=5, verbose=0)
    one = model.evaluate(maps, targets, batch_size=64, verbose=0, return_dict=True)
    self.assertAllClose(
      one["loss"],
      one["reconstruction"] + one["log_p_term"] + one["filter_loss"] + weight * one[term],
      rtol=1e-4,
    )
    return history.history[term][-1], model

  def test_overlap_cap_weighs_the_crowding_instead(self):
    """With a quota the term is the crowding beyond it, logged as such, and training lowers it."""
    maps, targets = random_batch(64)
    crowding = {
      w: self.trained_term(maps, targets, "crowding", w, overlap_weight=w, overlap_cap=0.05)[0]
      for w in (1e-9, 1e5)
    }
    self.assertLess(crowding[1e5], 0.85 * crowding[1e-9])

  def test_equivariance_term_is_logged_trained_and_needs_the_crops(self):
    """With a weight the term joins the loss, is logged, and training lowers it; without
    each image's crop in the targets it is refused in one line."""
    maps, targets = zoomed_batch(64)
    end = {}
    for weight in (1e-9, 1e6):
      end[weight], model = self.trained_term(
        maps, targets, "equivariance", weight, equivariance_weight=weight
      )
    self.assertLess(end[1e6], 0.8 * end[1e-9])  # 0.055 against 0.091 when written
    plain = {k: v for k, v in targets.items() if k not in ("warped", "box")}
    with self.assertRaisesRegex(ValueError, r"equivariance_weight > 0 needs .*'warped', 'box'"):
      model.compute_losses(maps, plain)

  def test_mixed_float16_steps_like_float32(self):
    """The loss is scaled for Keras's LossScaleOptimizer: the same first step as float32."""
    maps, targets = random_batch(16)

    def one_step(policy, weights=None):
      keras.config.set_dtype_policy(policy)
      try:
        keras.utils.set_random_seed(3)
        optimizer = keras.optimizers.SGD(1e-3)
        if policy == "mixed_float16":  # what compile would wrap it in, at a scale that does not
          # overflow on the first step (a dynamic scale skips overflowing steps).
          optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=2.0**8)
        model = build(optimizer=optimizer, gate_optimizer=keras.optimizers.SGD(1e-2))
        model(maps[:2])
        if weights is not None:
          model.set_weights(weights)
        model.set_reconstruction_weights([1e5, 1e5])  # lambda_l = 0.5: float16 holds the step
        start = [w.numpy().astype(np.float32) for w in model.weights]
        model.train_on_batch(maps, targets)
        return (
          model,
          start,
          [w.numpy().astype(np.float32) - s for w, s in zip(model.weights, start)],
        )
      finally:
        keras.config.set_dtype_policy("float32")

    reference, start, want = one_step("float32")
    mixed, _, got = one_step("mixed_float16", [w.numpy() for w in reference.weights])
    self.assertIsInstance(mixed.optimizer, keras.optimizers.LossScaleOptimizer)
    self.assertEqual(float(mixed.optimizer.scale_loss(1.0)), 2.0**8)
    moved = 0
    for variable, a, b in zip(reference.weights, want, got):
      if not variable.trainable or not np.any(a):
        continue
      moved += 1
      # float16 moves some mask peaks (near-ties in random maps), so compare each
      # variable's step as a whole: the same size and direction. Without loss
      # scaling it would be 2^8 times too small.
      a, b = a.ravel(), b.ravel()
      self.assertBetween(np.linalg.norm(b) / np.linalg.norm(a), 0.8, 1.25, variable.path)
      self.assertGreater(a @ b / np.linalg.norm(a) / np.linalg.norm(b), 0.9, variable.path)
    self.assertGreater(moved, 5)
    self.assertAllClose(mixed.lambda_f, reference.lambda_f, rtol=5e-2)

  def test_gradient_norms_of_the_lambda_f_rule_from_the_single_backward_pass(self):
    """The norms the step accumulates equal those of separate backward passes.

    Reconstruction: the whole gradient on each map, through every later layer.
    Filter loss: each layer's own on its map, not the next layer's reaching it
    through the conv between (the layers get different lambda_f, so a mix-up shows).
    """
    # lambda_f at which each gradient's filter part is of the reconstruction's order (a
    # far larger one only measures float32 rounding of the difference).
    # The overlap term acts on the last map through its mask; the equivariance term on the
    # last layer's conv output before its ReLU, so not on the maps at all.
    cases = (
      ("approx", 1e5, 0.0, 0.0),
      ("icnn", 10.0, 0.0, 0.0),
      ("approx", 1e5, 1e4, 0.0),
      ("approx", 1e5, 0.0, 1e4),
    )
    for gradient, lambda_f, overlap_weight, equivariance_weight in cases:
      model = build(
        gradient=gradient,
        overlap_weight=overlap_weight,
        equivariance_weight=equivariance_weight,
        optimizer=keras.optimizers.SGD(0.0),
      )
      maps, targets = zoomed_batch(16)
      # Weights at which the filter loss's part of the maps' gradient shows.
      model.set_reconstruction_weights([1e3, 1e3])
      model.lambda_f.assign(np.stack([np.full(D, lambda_f / 3), np.full(D, lambda_f)]))
      model.lambda_f_ready.assign(1.0)
      model.train_on_batch(maps, targets)  # first batch: sets the NormLayer statistics
      for v in (model.rec_grad_norms, model.filter_grad_norms, model.grad_norm_count):
        v.assign(tf.zeros_like(v))
      with tf.GradientTape(persistent=True) as tape:
        terms, out = model.compute_losses(maps, targets)
        rec, total = terms["data"], terms["loss"]
        own = [tf.reduce_sum(v) for v in out["per_filter"]]
      norms = lambda grads: np.stack(  # noqa: E731
        [np.sqrt(np.square(g.numpy()).sum(axis=(1, 2))).sum(axis=0) for g in grads]
      )
      expected = norms(tape.gradient(rec, out["interp_maps"]))
      with_filter = norms(tape.gradient(total, out["interp_maps"]))
      self.assertGreater(np.abs(with_filter / expected - 1).max(), 0.01)  # the part removed
      # The last layer's filter loss sees p x + (1 - p) x_ordin: its gradient on that input.
      expected_filter = norms(
        [
          tape.gradient(own[0], out["filter_grad_inputs"][0]),
          tape.gradient(own[1], out["filter_grad_inputs"][1]),
        ]
      )
      model.train_on_batch(maps, targets)  # SGD(0): the same weights, the same batch
      msg = f"{gradient}, overlap_weight {overlap_weight}, equivariance {equivariance_weight}"
      self.assertAllClose(model.rec_grad_norms, expected, rtol=1e-3, msg=msg)
      self.assertAllClose(model.filter_grad_norms, expected_filter, rtol=1e-3, msg=msg)

  def test_lambda_f_rule(self):
    """lambda_f = E||dLrec/dx|| / E||dLf/dx|| / (300 N) from accumulated norms."""
    model = build()
    model.rec_grad_norms.assign(np.full((2, D), 6.0, np.float32))
    model.filter_grad_norms.assign(np.full((2, D), 2.0, np.float32))
    model.grad_norm_count.assign(3.0)
    model.update_filter_loss_weights(next_epoch=2)
    self.assertAllClose(model.lambda_f, np.full((2, D), 3.0 / 600.0))
    self.assertEqual(float(model.grad_norm_count.numpy()), 0.0)

  def test_filter_loss_reaches_no_ordinary_weight(self):
    model = build()
    maps, targets = random_batch(16)
    model.lambda_f.assign(np.ones((2, D), np.float32))
    with tf.GradientTape(persistent=True) as tape:
      terms, _ = model.compute_losses(maps, targets)
      filter_term = terms["filter_loss"]
    ordinary = model.explainer.get_layer("conv_ordin").trainable_variables
    interp = model.explainer.get_layer("conv_interp_2").trainable_variables
    for grad in tape.gradient(filter_term, ordinary):
      self.assertIsNone(grad)
    self.assertGreater(np.abs(tape.gradient(filter_term, interp[0]).numpy()).max(), 0.0)
    self.assertIsNotNone(tape.gradient(filter_term, model.explainer.gate.w_p))

  def test_filter_categories(self):
    """By activation unless the config fixes one category (single-category explainers)."""
    model = build()
    sums = np.zeros((2, K, D), np.float32)
    sums[:, 2, :3] = 5.0  # filters 0-2 fire most on class 2, the rest on class 0
    sums[:, 0, 3:] = 5.0
    model.category_sums.assign(sums)
    model.category_counts.assign(np.ones(K, np.float32))
    expected = np.array([2, 2, 2] + [0] * (D - 3))
    self.assertAllEqual(model.filter_categories(), np.stack([expected, expected]))
    fixed = build(num_classes=2, filter_category=1)
    fixed.category_sums.assign(np.zeros((2, 2, D), np.float32) + [[[3.0], [0.0]]])
    self.assertAllEqual(fixed.filter_categories(), np.ones((2, D)))
    with self.assertRaisesRegex(ValueError, r"filter_category must be in \[0, 2\)"):
      small_config(num_classes=2, filter_category=2)

  def test_p_moves_up_under_log_p_alone(self):
    model = build()
    maps, targets = random_batch(8)
    with tf.GradientTape() as tape:
      terms, _ = model.compute_losses(maps, targets)
      log_p_term = terms["log_p_term"]
    grad = tape.gradient(log_p_term, model.explainer.gate.w_p)
    # -eta log sigmoid(w) has derivative -eta (1 - p) = -5 at p = 0.5.
    self.assertAllClose(grad, -5.0)
    keras.optimizers.SGD(0.1).apply_gradients([(grad, model.explainer.gate.w_p)])
    self.assertGreater(float(model.p), 0.5)

  def test_saved_explainer_is_the_network_without_training_state(self):
    model = build()
    maps, targets = random_batch(16)
    model.fit(maps, targets, batch_size=8, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "explainer.keras")
      model.explainer.save(path)
      loaded = keras.saving.load_model(path)
    self.assertIsInstance(loaded, type(model.explainer))
    for key, value in model(maps).items():
      self.assertAllClose(value, loaded(maps)[key])
    state = {
      "lambda_l",
      "lambda_f",
      "lambda_f_ready",
      "epoch",
      "rec_grad_norms",
      "filter_grad_norms",
      "grad_norm_count",
      "category_sums",
      "category_counts",
    }
    self.assertEqual(state, {w.name for w in model.weights} - {w.name for w in loaded.weights})
    self.assertFalse(state & {w.name for w in loaded.weights})


class ExplainerClsTest(tf.test.TestCase):
  def test_classification_objective(self):
    """Explainer+cls: cross-entropy of the classifier on fc_dec_2, weighted by lambda_l_scale."""
    model = build(objective="classification", lambda_l_scale=2.0)
    maps, targets = random_batch(8)
    targets["label"] = np.arange(8) % K
    kernel = np.random.default_rng(0).normal(size=(12, K)).astype(np.float32)
    model.set_classifier(kernel, np.zeros(K, np.float32))
    terms, out = model.compute_losses(maps, targets)
    logits = out["fc"][-1].numpy() @ kernel
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.mean(log_probs[np.arange(8), targets["label"]])
    self.assertAllClose(terms["classification"], 2.0 * expected, rtol=1e-5)
    self.assertNotIn("reconstruction", terms)
    history = model.fit(maps, targets, batch_size=4, epochs=2, verbose=0)
    self.assertIn("classification", history.history)
    with self.assertRaisesRegex(ValueError, "set_classifier is for"):
      build().set_classifier(kernel, np.zeros(K))


if __name__ == "__main__":
  tf.test.main()
