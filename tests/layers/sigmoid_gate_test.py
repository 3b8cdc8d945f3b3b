"""Tests for tf_explainer.layers.SigmoidGate."""

import keras
import numpy as np
import tensorflow as tf

from tests.layers import layer_test_util
from tf_explainer.layers import SigmoidGate


class SigmoidGateTest(tf.test.TestCase):
  def test_mix(self):
    """initial_p = 0.8: x_enc = 0.8 * 1 + 0.2 * 6 = 2."""
    gate = SigmoidGate(initial_p=0.8)
    y = gate([tf.ones((1, 2)), 6.0 * tf.ones((1, 2))])
    self.assertAllClose(y, [[2.0, 2.0]])
    self.assertAllClose(gate.p, 0.8)

  def test_gradient_of_p(self):
    """d x_enc / d w_p = p (1 - p) (x_interp - x_ordin) = 0.25 * (3 - 1) at p = 0.5."""
    gate = SigmoidGate()
    with tf.GradientTape() as tape:
      y = gate([3.0 * tf.ones((1, 1)), tf.ones((1, 1))])
    self.assertAllClose(tape.gradient(y, gate.w_p), 0.5)

  def test_config_and_round_trip(self):
    layer_test_util.assert_config_holds_init_args(self, SigmoidGate(initial_p=0.3))
    a, b = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([a, b], SigmoidGate(initial_p=0.3)([a, b]))
    data = [np.ones((2, 4), np.float32), np.zeros((2, 4), np.float32)]
    layer_test_util.assert_keras_round_trip(self, model, data)

  def test_bad_inputs(self):
    with self.assertRaisesRegex(ValueError, "initial_p"):
      SigmoidGate(initial_p=1.0)
    with self.assertRaisesRegex(ValueError, r"\(None, 4\) vs \(None, 5\)"):
      SigmoidGate()([keras.Input((4,)), keras.Input((5,))])


if __name__ == "__main__":
  tf.test.main()
