"""Runs the project's programs from tests as a user would: a fresh Python, in the repository."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*argv, cwd=REPO, timeout=900):
  """`python *argv` with TensorFlow's C++ logs off; returns the finished process (text output)."""
  return subprocess.run(
    [sys.executable, *argv],
    cwd=cwd,
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
  )
