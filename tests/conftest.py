"""Shared pytest set-up: quiet TensorFlow logs and keep pytest output to the tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# mixed_precision="auto" (the default) picks by the hardware: pinned to float32 here, and in
# the scripts the tests start, so that no test depends on the CPU it runs on.
os.environ.setdefault("TF_EXPLAINER_AUTO_PRECISION", "float32")


def pytest_collection_modifyitems(config, items):
  # tf.test.TestCase defines `test_session`, a context manager that pytest
  # would collect and report as skipped; it is not a test.
  items[:] = [item for item in items if item.name != "test_session"]
