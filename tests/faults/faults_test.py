"""Faults a user meets, each as one line on stderr and a non-zero exit, nothing broken saved.

The rows are those of the reliability issue (F2-F8, F10, F11). Disk-full and read-only
folders are simulated without root: the program runs in a fresh Python whose file
functions raise what the filesystem would.
"""

import os
import shutil
import tempfile

import tensorflow as tf

from tests import programs, tiny_run


def _program(script, *flags, before=""):
  """Runs `script` (a module path under tf_explainer.cli) as a program, after `before`."""
  code = (
    "import sys\n"
    "import tf_explainer.cli\n"
    # `before` patches the library, so TensorFlow comes first, as quiet as the program makes it.
    "tf_explainer.cli._quiet_tensorflow()\n"
    f"{before}\n"
    f"from tf_explainer.cli import {script} as program\n"
    f"sys.argv = [{script + '.py'!r}] + {list(flags)!r}\n"
    "program.main()\n"
  )
  return programs.run("-c", code)


class FaultsTest(tf.test.TestCase):
  def assertOneLine(self, result, text):
    self.assertNotEqual(result.returncode, 0)
    lines = result.stderr.strip().splitlines()
    self.assertLen(lines, 1, result.stderr[-3000:])
    self.assertIn(text, lines[0])

  def test_f2_f3_f4_non_finite_flags_refused(self):
    paths = tiny_run.paths()
    model_dir = os.path.join(tempfile.mkdtemp(), "e_inf")
    result = programs.run(
      "training/train_explainer.py",
      f"--performer_dir={paths['performer']}",
      f"--dataset_dir={paths['data']}",
      f"--model_dir={model_dir}",
      "--epochs=1",
      "--learning_rate=inf",
    )
    self.assertOneLine(result, "--learning_rate=inf: expected a finite number")
    self.assertFalse(os.path.exists(os.path.join(model_dir, "explainer.keras")))
    for flag in ("--learning_rate=nan", "--width=nan"):
      result = programs.run(
        "training/train_performer.py",
        f"--dataset_dir={paths['data']}",
        f"--model_dir={os.path.join(tempfile.mkdtemp(), 'p')}",
        "--epochs=1",
        flag,
      )
      self.assertOneLine(result, f"{flag}: expected a finite number")

  def test_f5_positional_argument(self):
    result = programs.run("training/train_performer.py", "epochs=1", "--dataset_dir=/x")
    self.assertOneLine(result, "unexpected argument 'epochs=1'; flags start with --")

  def test_f6_export_base_is_a_file(self):
    base = os.path.join(tempfile.mkdtemp(), "afile")
    open(base, "w").close()
    result = programs.run(
      "export/export_savedmodel.py",
      f"--explainer_dir={tiny_run.paths()['explainer']}",
      f"--export_base={base}",
    )
    self.assertOneLine(result, f"--export_base={base} is a file, not a folder")

  def test_f7_read_only_folder(self):
    base = os.path.join(tempfile.mkdtemp(), "serving")
    before = (
      "from tf_explainer import io_utils\n"
      "def refuse(path, *a, **k):\n"
      "  raise PermissionError(30, 'Read-only file system', path)\n"
      "io_utils.makedirs = refuse"
    )
    result = _program(
      "export",
      f"--explainer_dir={tiny_run.paths()['explainer']}",
      f"--export_base={base}",
      before=before,
    )
    self.assertOneLine(result, "cannot write ([Errno 30] Read-only file system")
    self.assertFalse(os.path.exists(base))

  def test_f7_read_only_folder_for_evaluate_and_training(self):
    paths = tiny_run.paths()
    before = (
      "from tf_explainer import io_utils\n"
      "def refuse(path, *a, **k):\n"
      "  raise PermissionError(13, 'Permission denied', path)\n"
      "io_utils.makedirs = refuse"
    )
    output = os.path.join(tempfile.mkdtemp(), "ro", "evaluation")
    result = _program(
      "evaluate",
      f"--explainer_dir={paths['explainer']}",
      f"--dataset_dir={paths['data']}",
      f"--output_dir={output}",
      before=before,
    )
    self.assertOneLine(result, "cannot write ([Errno 13] Permission denied")
    model_dir = os.path.join(tempfile.mkdtemp(), "ro", "performer")
    result = _program(
      "train_performer",
      f"--dataset_dir={paths['data']}",
      f"--model_dir={model_dir}",
      "--epochs=1",
      before=before,
    )
    self.assertOneLine(result, "cannot write ([Errno 13] Permission denied")
    self.assertFalse(os.path.exists(model_dir))

  def test_f8_disk_full_during_export(self):
    base = tempfile.mkdtemp()
    before = (
      "import os, tensorflow as tf\n"
      "from tf_explainer import export_lib\n"
      "class Full:\n"
      "  def write_out(self, path, **k):\n"
      "    os.makedirs(path)  # a partial version, as a real full disk leaves\n"
      "    raise tf.errors.ResourceExhaustedError(None, None, path + ': No space left on device')\n"
      "export_lib.export_archive = lambda module: Full()"
    )
    result = _program(
      "export",
      f"--explainer_dir={tiny_run.paths()['explainer']}",
      f"--export_base={base}",
      before=before,
    )
    self.assertOneLine(result, "the disk is full")
    self.assertEqual(os.listdir(base), [])  # the temporary version is gone

  def test_f10_f11_damaged_model_files_named(self):
    explainer = os.path.join(tempfile.mkdtemp(), "explainer")
    shutil.copytree(tiny_run.paths()["explainer"], explainer)
    keras_file = os.path.join(explainer, "explainer.keras")
    os.truncate(keras_file, os.path.getsize(keras_file) // 2)
    result = programs.run(
      "export/export_savedmodel.py",
      f"--explainer_dir={explainer}",
      f"--export_base={tempfile.mkdtemp()}",
    )
    self.assertOneLine(result, f"{keras_file} is damaged or truncated")
    manifest = os.path.join(explainer, "explainer.json")
    os.truncate(manifest, 100)
    result = programs.run(
      "export/export_savedmodel.py",
      f"--explainer_dir={explainer}",
      f"--export_base={tempfile.mkdtemp()}",
    )
    self.assertOneLine(result, f"{manifest} is damaged or truncated: not valid JSON")


if __name__ == "__main__":
  tf.test.main()
