"""Tests for tf_explainer.losses.filter_loss."""

from absl.testing import parameterized
import numpy as np
from scipy import special
import tensorflow as tf

from tf_explainer.losses import filter_loss, weighted_filter_loss
from tf_explainer import losses as filter_loss_lib
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
    self.assertAllClose(
      filter_loss(x.astype(np.float32), t), numpy_filter_loss(x, t), rtol=1e-4, atol=1e-6
    )

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
    self.assertAllClose(
      loss, numpy_filter_loss(x.astype(np.float64), part_templates(5)), rtol=1e-3, atol=1e-4
    )

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
    approx = gradient(
      x, t, "approx", image_categories=image_cats, filter_categories=np.ones(3, np.int32)
    )
    cos = cosines(approx, exact)
    self.assertTrue(np.all(cos >= 0.9), cos)

  def test_approx_with_categories_is_descent_direction(self):
    rng = np.random.default_rng(9)
    t = part_templates(4).astype(np.float64)
    x = covering_maps(rng, 4, 2, height=200.0, step=20.0)
    image_cats = np.array([1] * (x.shape[0] - 3) + [0] * 3)
    approx = gradient(
      x, t, "approx", image_categories=image_cats, filter_categories=np.ones(2, np.int32)
    )
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
      filter_loss(
        np.zeros((4, 3, 3, 2), np.float32),
        part_templates(3),
        gradient="approx",
        image_categories=np.zeros(4),
        filter_categories=np.zeros(3),
      )

  def test_unknown_gradient(self):
    with self.assertRaisesRegex(ValueError, "gradient must be"):
      filter_loss(np.zeros((1, 3, 3, 1), np.float32), part_templates(3), gradient="fast")

  def test_weighted_sum(self):
    rng = np.random.default_rng(11)
    x = (rng.random((4, 3, 3, 2)) * 10).astype(np.float32)
    t = part_templates(3)
    total, per_filter = weighted_filter_loss(x, t, np.array([2.0, 0.5]))
    self.assertAllClose(total, 2.0 * per_filter[0] + 0.5 * per_filter[1])


def four_maps():
  """Four 3x3 maps of one filter; images 0 and 1 are of the filter's category.

  x0: 1 at (0, 0); x1: 2 at (1, 1); x2: all zero; x3: all ones.
  """
  x = np.zeros((4, 3, 3, 1))
  x[0, 0, 0, 0] = 1.0
  x[1, 1, 1, 0] = 2.0
  x[3] = 1.0
  return x, np.array([[True], [True], [False], [False]])


class IcnnGradientTest(tf.test.TestCase):
  """The reference implementation's gradient (SPEC section 1, `gradient="icnn"`)."""

  def test_golden_values_of_four_maps(self):
    """Derived by hand for `four_maps()`, beta = 2, alpha = 0.5, centre of mass.

    Centres: x0 and x2 (all zero) at unit (0, 0), x1 and x3 at (1, 1). With
    P = (-1, 0, 1) every unit next to the centre is already at mask
    1 - 2 * 1 = -1, so M = 1 at the centre and -1 elsewhere (M0 = M2, M1 = M3).
      s  = mean(x M):          1/9, 2/9, 0, (1 - 8)/9 = -7/9
      m  = mean(x):            1/9, 2/9, 0, 1
      s~ = mean(x_n M_{3-n}):  -1/9 (x0 under M1), -2/9 (x1 under M0), 0, -7/9
      A+ = 0.5 log mean exp(2 s~),  A- = 0.5 log mean exp(-2 m)
      g0 = e^(2/9) (1/9 - A+ + 1/2),  g1 = e^(4/9) (2/9 - A+ + 1/2)
      g2 = e^0 (0 - A- + 1/2),        g3 = e^-2 (-1 - A- + 1/2)
    each pair divided by its own mean; the gradient is -g^ M for x0, x1 and
    +g^ on every unit for x2, x3.
    """
    x, positive = four_maps()
    a_pos = 0.5 * np.log(np.mean(np.exp(2 * np.array([-1 / 9, -2 / 9, 0, -7 / 9]))))
    a_neg = 0.5 * np.log(np.mean(np.exp(-2 * np.array([1 / 9, 2 / 9, 0, 1]))))
    g = np.array(
      [
        np.exp(2 / 9) * (1 / 9 - a_pos + 0.5),
        np.exp(4 / 9) * (2 / 9 - a_pos + 0.5),
        1 * (0 - a_neg + 0.5),
        np.exp(-2) * (-1 - a_neg + 0.5),
      ]
    )
    g_hat = np.concatenate([g[:2] / g[:2].mean(), g[2:] / g[2:].mean()])
    m0 = -np.ones((3, 3))
    m0[0, 0] = 1.0
    m1 = -np.ones((3, 3))
    m1[1, 1] = 1.0
    expected = np.stack(
      [-g_hat[0] * m0, -g_hat[1] * m1, g_hat[2] * np.ones((3, 3)), g_hat[3] * np.ones((3, 3))]
    )[..., None]
    masks = filter_loss_lib.icnn_masks(tf.constant(x), 2.0)
    self.assertAllClose(masks[..., 0], np.stack([m0, m1, m0, m1]))
    got = filter_loss_lib.icnn_gradient(tf.constant(x), masks, tf.constant(positive))
    self.assertAllClose(got, expected, rtol=1e-10, atol=1e-12)
    # Through filter_loss: the logged value is the formula's, the gradient the injected one.
    templates = part_templates(3)
    with tf.GradientTape() as tape:
      maps = tf.constant(x)
      tape.watch(maps)
      loss = filter_loss(
        maps,
        templates,
        gradient="icnn",
        beta=2.0,
        image_categories=tf.constant([1, 1, 0, 0]),
        filter_categories=tf.constant([1]),
      )
    self.assertAllClose(loss, numpy_filter_loss(x, templates))
    self.assertAllClose(tape.gradient(loss, maps), expected, rtol=1e-10, atol=1e-12)

  def test_own_category_pulled_with_equal_mean_strength_others_pushed_down(self):
    rng = np.random.default_rng(0)
    x = rng.random((8, 5, 5, 3)) ** 4 * 3.0
    positive = np.array([[True, False, True]] * 4 + [[False, True, False]] * 4)
    masks = filter_loss_lib.icnn_masks(tf.constant(x), tf.constant([2.0, 1.5, 3.0], tf.float64))
    g_hat, _ = filter_loss_lib.icnn_strengths(tf.constant(x), masks, tf.constant(positive))
    grad = filter_loss_lib.icnn_gradient(tf.constant(x), masks, tf.constant(positive)).numpy()
    for d in range(3):
      own, other = positive[:, d], ~positive[:, d]
      self.assertAllClose(np.mean(g_hat.numpy()[own, d]), 1.0)  # equal mean strength
      self.assertAllClose(np.mean(g_hat.numpy()[other, d]), 1.0)
      for n in np.flatnonzero(other):  # the same push on every unit, down for g^ > 0
        self.assertAllClose(grad[n, ..., d], np.full((5, 5), g_hat.numpy()[n, d]))
      for n in np.flatnonzero(own):  # toward the own template: -g^ M
        self.assertAllClose(grad[n, ..., d], -g_hat.numpy()[n, d] * masks.numpy()[n, ..., d])
    # Most strengths are positive here: a descent step raises the centre of an own map.
    own_centres = [
      grad[n, ..., d][masks.numpy()[n, ..., d] == 1.0]
      for n in range(8)
      for d in range(3)
      if positive[n, d] and g_hat[n, d] > 0
    ]
    self.assertTrue(all(np.all(c < 0) for c in own_centres))

  def test_centres(self):
    x = np.zeros((2, 5, 5, 1))
    x[0, 1, 3, 0] = 1.0
    x[0, 3, 3, 0] = 1.0  # centre of mass (2, 3); argmax (1, 3), the first on the tie
    x[1, 0, 0, 0] = 1.0
    x[1, 0, 1, 0] = 1.0  # centre of mass (0, 0.5): rounded half away from zero to (0, 1)
    self.assertAllEqual(filter_loss_lib.icnn_centres(tf.constant(x))[:, 0], [[2, 3], [0, 1]])
    self.assertAllEqual(
      filter_loss_lib.icnn_centres(tf.constant(x), "argmax")[:, 0], [[1, 3], [0, 0]]
    )
    self.assertAllEqual(filter_loss_lib.icnn_centres(tf.zeros((1, 5, 5, 1)))[0, 0], [0, 0])
    with self.assertRaisesRegex(ValueError, "centre must be one of"):
      filter_loss_lib.icnn_centres(tf.constant(x), "middle")

  def test_adaptive_beta_target(self):
    """Target clip(3 / sigma, 1.5, 3); one own-category image, so sigma_bar = its sigma.

    Filter 0: ones at (0, 0) and (2, 2), centre (1, 1): sigma = sqrt(2), target 3 / sqrt(2).
    Filter 1: ones at (0, 0) and (4, 4), centre (2, 2): sigma = sqrt(8), 3 / sqrt(8) -> 1.5.
    Filter 2: a single unit: sigma = 0 -> 3.
    """
    x = np.zeros((1, 5, 5, 3))
    x[0, 0, 0, 0] = x[0, 2, 2, 0] = 1.0
    x[0, 0, 0, 1] = x[0, 4, 4, 1] = 1.0
    x[0, 3, 1, 2] = 1.0
    positive = tf.ones((1, 3), tf.bool)
    masks = filter_loss_lib.icnn_masks(tf.constant(x), 2.0)
    target = filter_loss_lib.icnn_beta_target(tf.constant(x), masks, positive)
    self.assertAllClose(target, [3 / np.sqrt(2), 1.5, 3.0])


if __name__ == "__main__":
  tf.test.main()
