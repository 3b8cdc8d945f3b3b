"""Each workaround in tf_explainer.compat, and a test that fails once Keras no longer needs it.

When a `*_still_needed` test fails after a Keras upgrade, Keras has changed
what the workaround works around: check the behaviour, then remove the
workaround and its test.
"""

import inspect

import keras
import numpy as np
import tensorflow as tf

from tf_explainer import compat


class StillNeededTest(tf.test.TestCase):
  def test_symbolic_build_reduce_still_needed(self):
    """keras-team/keras#20585: the TF trainer averages a distributed batch to build the model."""
    from keras.src.backend.tensorflow import trainer  # pylint: disable=import-outside-toplevel

    source = inspect.getsource(trainer.TensorFlowTrainer._maybe_symbolic_build)
    self.assertIn(
      "distribute_strategy.reduce(",
      source,
      "Keras no longer reduces the batch in _maybe_symbolic_build: check "
      "keras-team/keras#20585 and remove compat.SkipDistributedSymbolicBuild.",
    )

  def test_multi_worker_log_reduce_still_needed(self):
    """Under MultiWorkerMirroredStrategy Keras reduces logs along axis 0, which scalars lack."""
    from keras.src.backend.tensorflow import trainer  # pylint: disable=import-outside-toplevel

    source = inspect.getsource(trainer.reduce_per_replica)
    self.assertIn(
      'strategy.reduce("MEAN", v, axis=0)',
      source,
      "Keras reduces multi-worker logs differently now: remove "
      "compat.logs_for_strategy if scalar logs work.",
    )

  def test_inbound_layers_still_private(self):
    """Keras 3 offers no public accessor of a layer's inbound nodes."""
    public = [
      name for name in dir(keras.layers.Layer) if "inbound" in name and not name.startswith("_")
    ]
    self.assertEqual(
      public,
      [],
      "Keras has a public inbound-node API now: use it in "
      "compat.inbound_layer instead of _inbound_nodes.",
    )


class WorkaroundTest(tf.test.TestCase):
  def test_inbound_layer_walks_a_functional_chain(self):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="a")(inputs)
    x = keras.layers.MaxPooling2D(name="b")(x)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="c")(x))
    self.assertEqual(compat.inbound_layer(model.get_layer("c")).name, "b")
    self.assertEqual(compat.inbound_layer(model.get_layer("b")).name, "a")
    self.assertIsNone(compat.inbound_layer(model.get_layer("a")))

  def test_logs_for_strategy_is_the_identity_outside_multi_worker(self):
    logs = {"loss": tf.constant(1.5)}
    self.assertIs(compat.logs_for_strategy(logs), logs)

  def test_skip_symbolic_build_builds_without_a_batch(self):
    class Built(compat.SkipDistributedSymbolicBuild, keras.Model):
      def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.dense.build((None, 2))
        self.built = True

      def call(self, x):
        return self.dense(x)

      def train_step(self, data):  # its own loss: nothing compiled needs a batch to build
        x, y = data
        with tf.GradientTape() as tape:
          loss = tf.reduce_mean(tf.square(self(x) - y))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}

    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
      model = Built()
      model.compile(optimizer="sgd")
    history = model.fit(
      np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), epochs=1, verbose=0
    )
    self.assertTrue(np.isfinite(history.history["loss"][0]))


if __name__ == "__main__":
  tf.test.main()
