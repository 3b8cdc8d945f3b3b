"""Shared pytest set-up: quiet TensorFlow logs and keep pytest output to the tests."""

import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Every temporary folder of the run (the tests', the scripts' they start, TensorFlow's) goes
# under one folder that is removed when the run ends: a full run used to leave about 300 MB
# behind in /tmp.
_SESSION_TMP = tempfile.mkdtemp(prefix="tf_explainer_tests_")
os.environ["TMPDIR"] = _SESSION_TMP
tempfile.tempdir = _SESSION_TMP
# mixed_precision="auto" (the default) picks by the hardware: pinned to float32 here, and in
# the scripts the tests start, so that no test depends on the CPU it runs on.
os.environ.setdefault("TF_EXPLAINER_AUTO_PRECISION", "float32")


def pytest_sessionfinish(session, exitstatus):
  shutil.rmtree(_SESSION_TMP, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
  # tf.test.TestCase defines `test_session`, a context manager that pytest
  # would collect and report as skipped; it is not a test.
  items[:] = [item for item in items if item.name != "test_session"]
