"""The explainer under MirroredStrategy and MultiWorkerMirroredStrategy.

Its state (filter loss over the global batch, NormLayer statistics, lambda_f,
the filters' category means) must match one device on the same global batch.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "replica_check.py")


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def launch(strategy, out, env_extra=None):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env_extra or {}))
  return subprocess.Popen(
    [sys.executable, SCRIPT, f"--strategy={strategy}", f"--out={out}"],
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )


def finish(process):
  stdout, stderr = process.communicate(timeout=600)
  return process.returncode, stderr[-3000:]


def load(path):
  data = np.load(path)
  return [data[f"w{i}"] for i in range(len(data.files))]


class DistributeTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.mkdtemp()
    cls.single = os.path.join(cls.tmp, "single.npz")
    code, err = finish(launch("default", cls.single))
    assert code == 0, err

  def assert_same_state(self, path):
    expected, got = load(self.single), load(path)
    self.assertEqual(len(expected), len(got))
    for a, b in zip(expected, got):
      self.assertAllClose(a, b, rtol=2e-4, atol=1e-5)

  def test_mirrored_two_cpus_matches_one_device(self):
    out = os.path.join(self.tmp, "mirrored.npz")
    code, err = finish(launch("mirrored", out))
    self.assertEqual(code, 0, err)
    self.assert_same_state(out)

  def test_two_local_workers_match_one_device(self):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    outs = [os.path.join(self.tmp, f"worker{i}.npz") for i in range(2)]
    processes = [
      launch(
        "multi_worker",
        outs[i],
        {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})},
      )
      for i in range(2)
    ]
    for process in processes:
      code, err = finish(process)
      self.assertEqual(code, 0, err)
    for out in outs:
      self.assert_same_state(out)


class GlobalBatchTest(tf.test.TestCase):
  def test_batch_not_divisible_by_replicas(self):
    import types
    from tf_explainer.train import distribute

    two = types.SimpleNamespace(num_replicas_in_sync=2)
    distribute.check_global_batch(8, two)
    with self.assertRaisesRegex(ValueError, r"batch_size=7 is not divisible by the 2 replicas"):
      distribute.check_global_batch(7, two)
    with self.assertRaisesRegex(ValueError, "`strategy` must be one of"):
      distribute.get_strategy("tpu")


if __name__ == "__main__":
  tf.test.main()
