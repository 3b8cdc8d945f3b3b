"""Runs the project's programs from tests as a user would: a fresh Python, in the repository."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*argv, cwd=REPO, timeout=900):
  """`python *argv` as a user runs it; returns the finished process (text output).

  TF_CPP_MIN_LOG_LEVEL is left unset, as in a user's shell: the programs silence
  TensorFlow's start-up logs themselves (`tf_explainer.cli`), and their expected
  errors must then be the only line on stderr.
  """
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  return subprocess.run(
    [sys.executable, *argv],
    cwd=cwd,
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
    env=env,
  )
