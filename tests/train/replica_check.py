"""Trains a small explainer for 3 one-step epochs under a strategy and saves its weights.

Run as a separate process because logical devices and TF_CONFIG must be set
before TensorFlow starts:

    python tests/train/replica_check.py --strategy=mirrored --out=/tmp/w.npz
"""

import argparse


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--strategy", choices=["default", "mirrored", "multi_worker"])
  parser.add_argument("--out")
  args = parser.parse_args()

  import numpy as np
  import tensorflow as tf

  if args.strategy == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  import keras

  from tf_explainer.configs import LossSettings
  from tf_explainer.models import Explainer, ExplainerConfig
  from tf_explainer.train import distribute, trainer

  strategy = distribute.get_strategy(args.strategy)
  keras.utils.set_random_seed(0)
  rng = np.random.default_rng(0)
  n = 16  # one global batch, so every replica split sees the same 16 images in a step
  maps = (rng.random((n, 6, 6, 8)) * 4).astype(np.float32)
  targets = {
    "fc6": rng.random((n, 16)).astype(np.float32),
    "fc7": rng.random((n, 12)).astype(np.float32),
    "category": rng.integers(0, 3, n).astype(np.float32),
    "positive": (rng.random(n) < 0.7).astype(np.float32),
  }
  config = ExplainerConfig(
    target_shape=(6, 6, 8),
    fc_sizes=(16, 12),
    fc_names=("fc6", "fc7"),
    num_classes=3,
    pool={"pool_size": 2, "strides": 2, "padding": "valid"},
  )
  with strategy.scope():
    model = trainer.ExplainerTrainer(Explainer(config), LossSettings(eta=10.0))
    # Identical initial weights in every process, whatever the strategy.
    init = np.random.default_rng(1)
    for w in model.trainable_weights:
      w.assign(init.normal(0, 0.1, w.shape).astype(np.float32))
    model.set_reconstruction_weights([1.0, 1.0])
    model.compile(optimizer=keras.optimizers.SGD(1e-2), gate_optimizer=keras.optimizers.SGD(1e-1))
  data = tf.data.Dataset.from_tensor_slices((maps, targets)).batch(n)
  model.fit(data, epochs=3, verbose=0, callbacks=[trainer.LambdaFUpdate()])
  if args.out:
    np.savez(args.out, **{f"w{i}": w.numpy() for i, w in enumerate(model.weights)})


if __name__ == "__main__":
  main()
