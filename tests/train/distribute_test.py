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

import keras
import numpy as np
import tensorflow as tf

from tf_explainer.train import distribute

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


class AutoPrecisionTest(tf.test.TestCase):
  """What mixed_precision="auto" picks, from given CPU flags and GPUs (none are needed)."""

  def setUp(self):
    super().setUp()
    self.pinned = os.environ.pop(distribute.AUTO_PRECISION_ENV, None)

  def tearDown(self):
    if self.pinned is not None:
      os.environ[distribute.AUTO_PRECISION_ENV] = self.pinned
    super().tearDown()

  def test_cpu_flags_decide(self):
    for flags, policy in (
      ({"avx2", "amx_bf16", "amx_tile"}, "mixed_bfloat16"),
      ({"avx512f", "avx512_bf16"}, "mixed_bfloat16"),
      ({"avx2", "fma"}, "float32"),
      (set(), "float32"),
    ):
      got, reason = distribute.auto_precision(flags=flags, gpus=[])
      self.assertEqual(got, policy, flags)
      self.assertTrue(reason)
    self.assertTrue(distribute.auto_jit("float32", gpus=[]))
    self.assertFalse(distribute.auto_jit("mixed_bfloat16", gpus=[]))
    self.assertFalse(distribute.auto_jit("float32", gpus=[], deterministic=True))
    self.assertFalse(distribute.auto_jit("float32", gpus=["GPU:0"], deterministic=True))

  def test_pinned_by_the_environment(self):
    os.environ[distribute.AUTO_PRECISION_ENV] = "float32"
    try:
      self.assertEqual(distribute.auto_precision(flags={"amx_bf16"}, gpus=[])[0], "float32")
      os.environ[distribute.AUTO_PRECISION_ENV] = "float64"
      with self.assertRaisesRegex(ValueError, "TF_EXPLAINER_AUTO_PRECISION=float64"):
        distribute.auto_precision(flags=set(), gpus=[])
    finally:
      os.environ.pop(distribute.AUTO_PRECISION_ENV, None)

  def test_set_precision_resolves_auto_and_says_why(self):
    import contextlib
    import io

    os.environ[distribute.AUTO_PRECISION_ENV] = "float32"
    out = io.StringIO()
    try:
      with contextlib.redirect_stdout(out):
        self.assertEqual(distribute.set_precision("auto", verbose=1), "float32")
    finally:
      os.environ.pop(distribute.AUTO_PRECISION_ENV, None)
      keras.mixed_precision.set_global_policy("float32")
    self.assertIn("Precision: float32 (auto: TF_EXPLAINER_AUTO_PRECISION=float32).", out.getvalue())


if __name__ == "__main__":
  tf.test.main()
