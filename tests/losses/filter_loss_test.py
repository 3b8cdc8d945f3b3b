"""Tests for tf_explainer.losses.filter_loss."""

from absl.testing import parameterized
import numpy as np
from scipy import special
import tensorflow as tf

from tf_explainer.losses import filter_loss, weighted_filter_loss
from tf_explainer.templates import part_templates


def numpy_filter_loss(x, t):
  """Independent float64 implementation of SPEC section 1, one filter at a time."""
  batch, size, _, channels = x.shape
  prior = 1.0 / (size * size + 1)
  out = np.zeros(channels)
  for c in range(channels):
    s = np.einsum("bij,tij->bt", x[..., c], t)  # (B, M)
    s = s - s.max(axis=0, keepdims=True)
    log_q = s - np.log(np.exp(s).sum(axis=0, keepdims=True))  # log p(x | T)
    log_px = np.log(prior) + special.logsumexp(log_q, axis=1, keepdims=True)  # log p(x)
    out[c] = -prior * np.sum(np.exp(log_q) * (log_q - log_px))
  return out


def covering_maps(rng, size, channels, height, per=3, step=40.0):
  """A batch in which every template is the clear best fit of its own group.

  Each of the L^2 units is the peak of `per` maps (heights `height + k * step`),
  and `per` near-zero maps fit the negative template. Every map's posterior
  p(T | x) then sits on one template, more and more so as `height` grows.
  """
  maps = []
  for k in range(size * size):
    for r in range(per):
      x = rng.random((size, size, channels)) * 0.1
      x[k // size, k % size, :] += height + step * r + rng.random(channels) * 5.0
      maps.append(x)
  maps.extend(rng.random((size, size, channels)) * 0.1 for _ in range(per))
  return np.stack(maps)


def gradient(x, t, mode, **kwargs):
  x = tf.constant(x)
  with tf.GradientTape() as tape:
    tape.watch(x)
    loss = tf.reduce_sum(filter_loss(x, t, gradient=mode, **kwargs))
  return tape.gradient(loss, x).numpy()


def cosines(a, b):
  """Cosine per filter of two (B, L, L, C) gradients."""
  a = np.moveaxis(a, -1, 0).reshape(a.shape[-1], -1)
  b = np.moveaxis(b, -1, 0).reshape(b.shape[-1], -1)
  return np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


class FilterLossTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters((3, 4, 2), (5, 8, 3), (6, 1, 2))
  def test_matches_numpy(self, size, batch, channels):
    rng = np.random.default_rng(size)
    x = rng.random((batch, size, size, channels)) * 10.0
    t = part_templates(size)
    self.assertAllClose(filter_loss(x.astype(np.float32), t), numpy_filter_loss(x, t),
                        rtol=1e-4, atol=1e-6)

  def test_batch_of_one_is_minus_prior_entropy_gap(self):
    """With one map p(x | T) = 1 for every T, so p(x) = 1 and the loss is 0."""
    x = np.random.default_rng(0).random((1, 4, 4, 3)).astype(np.float32)
    loss = filter_loss(x, part_templates(4))
    self.assertAllClose(loss, np.zeros(3), atol=1e-7)
    self.assertAllClose(gradient(x, part_templates(4), "approx"), np.zeros_like(x), atol=1e-7)

  def test_stable_for_huge_activations(self):
    x = np.random.default_rng(1).random((4, 5, 5, 2)).astype(np.float32) * 1e6
    loss = filter_loss(x, part_templates(5))
    self.assertTrue(np.all(np.isfinite(loss.numpy())))
    self.assertAllClose(loss, numpy_filter_loss(x.astype(np.float64), part_templates(5)),
                        rtol=1e-3, atol=1e-4)

  def test_exact_gradient_matches_numeric(self):
    rng = np.random.default_rng(42)
    x = tf.constant(rng.random((5, 4, 4, 2)) * 30.0, tf.float64)
    t = part_templates(4).astype(np.float64)
    weights = tf.constant([1.0, -2.0], tf.float64)
    f = lambda maps: tf.reduce_sum(weights * filter_loss(maps, t, gradient="exact"))  # noqa: E731
    theoretical, numerical = tf.test.compute_gradient(f, [x], delta=1e-4)
    self.assertAllClose(theoretical[0], numerical[0], rtol=1e-5, atol=1e-8)

  def test_exact_gradient_matches_autodiff_of_formula(self):
    """The custom gradient equals TF autodiff of the same formula in float64."""
    rng = np.random.default_rng(7)
    x = tf.constant(rng.random((6, 5, 5, 3)) * 40.0, tf.float64)
    t = tf.constant(part_templates(5), tf.float64)
    with tf.GradientTape() as tape:
      tape.watch(x)
      s = tf.einsum("bhwc,thw->btc", x, t)
      log_q = s - tf.reduce_logsumexp(s, axis=0, keepdims=True)
      prior = 1.0 / 26.0
      log_px = tf.reduce_logsumexp(log_q + np.log(prior), axis=1, keepdims=True)
      loss = -prior * tf.reduce_sum(tf.exp(log_q) * (log_q - log_px), axis=[0, 1])
      total = tf.reduce_sum(loss)
    self.assertAllClose(gradient(x.numpy(), t.numpy(), "exact"), tape.gradient(total, x))

  def test_approx_is_descent_direction(self):
    rng = np.random.default_rng(3)
    t = part_templates(6)
    x = rng.random((8, 6, 6, 4)) * 30.0
    cos = cosines(gradient(x, t, "approx"), gradient(x, t, "exact"))
    self.assertTrue(np.all(cos > 0.0), cos)
    # A small step along -approx lowers the exact loss of every filter.
    step = x - 1e-2 * gradient(x, t, "approx") / np.abs(gradient(x, t, "approx")).max()
    self.assertTrue(np.all(filter_loss(step, t).numpy() < filter_loss(x, t).numpy()))

  @parameterized.parameters((4, 2000.0), (6, 8000.0))
  def test_approx_close_to_exact_when_one_template_dominates(self, size, height):
    """With every other template's posterior below e^-30, only T_hat's term is left."""
    rng = np.random.default_rng(5)
    t = part_templates(size).astype(np.float64)
    x = covering_maps(rng, size, 3, height)
    exact = gradient(x, t, "exact")
    self.assertGreater(np.abs(exact).max(), 0.0)
    cos = cosines(gradient(x, t, "approx"), exact)
    self.assertTrue(np.all(cos >= 0.9), cos)
    # Categories say the same: the near-zero maps belong to another category.
    image_cats = np.array([1] * (x.shape[0] - 3) + [0] * 3)
    approx = gradient(x, t, "approx", image_categories=image_cats,
                      filter_categories=np.ones(3, np.int32))
    cos = cosines(approx, exact)
    self.assertTrue(np.all(cos >= 0.9), cos)

  def test_approx_with_categories_is_descent_direction(self):
    rng = np.random.default_rng(9)
    t = part_templates(4).astype(np.float64)
    x = covering_maps(rng, 4, 2, height=200.0, step=20.0)
    image_cats = np.array([1] * (x.shape[0] - 3) + [0] * 3)
    approx = gradient(x, t, "approx", image_categories=image_cats,
                      filter_categories=np.ones(2, np.int32))
    cos = cosines(approx, gradient(x, t, "exact"))
    self.assertTrue(np.all(cos > 0.0), cos)

  def test_nan_input_raises(self):
    x = np.ones((2, 3, 3, 1), np.float32)
    x[0, 1, 1, 0] = np.nan
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "NaN or Inf"):
      filter_loss(x, part_templates(3))
    x[0, 1, 1, 0] = np.inf
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "NaN or Inf"):
      filter_loss(x, part_templates(3))

  @parameterized.named_parameters(
      ("rank", np.zeros((3, 3, 2)), part_templates(3), r"rank 4.*\(3, 3, 2\)"),
      ("non_square", np.zeros((1, 3, 4, 2)), part_templates(3), r"square.*\(1, 3, 4, 2\)"),
      ("other_l", np.zeros((1, 4, 4, 2)), part_templates(3), r"\(10, 3, 3\).*\(1, 4, 4, 2\)"),
  )
  def test_bad_shapes(self, x, t, message):
    with self.assertRaisesRegex(ValueError, message):
      filter_loss(x.astype(np.float32), t)

  def test_channel_mismatch(self):
    with self.assertRaisesRegex(ValueError, r"\(3,\).*2 filters.*\(4, 3, 3, 2\)"):
      filter_loss(np.zeros((4, 3, 3, 2), np.float32), part_templates(3), gradient="approx",
                  image_categories=np.zeros(4), filter_categories=np.zeros(3))

  def test_unknown_gradient(self):
    with self.assertRaisesRegex(ValueError, "gradient must be"):
      filter_loss(np.zeros((1, 3, 3, 1), np.float32), part_templates(3), gradient="fast")

  def test_weighted_sum(self):
    rng = np.random.default_rng(11)
    x = (rng.random((4, 3, 3, 2)) * 10).astype(np.float32)
    t = part_templates(3)
    total, per_filter = weighted_filter_loss(x, t, np.array([2.0, 0.5]))
    self.assertAllClose(total, 2.0 * per_filter[0] + 0.5 * per_filter[1])


if __name__ == "__main__":
  tf.test.main()
