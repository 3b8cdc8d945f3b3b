"""The package's layering: no import, at top level or inside a function, points back up.

From the bottom up (a module may import its own layer and those below it):

0. configs (every program's settings, free of TensorFlow), templates, layers, losses,
   metrics and the utilities (io_utils, settings, compat,
   reproducibility, optimizers, replicas); `losses` never imports `layers`, nor
   `layers` `losses`;
1. data;
2. performers;
3. models, and `evaluation` (the paper's measures, which the training monitor uses too);
4. train;
5. evaluate_lib, export_lib, visualize (evaluation and export never import `train`);
6. demo and api;
7. cli, and every `__main__` module (a program is the top of its own stack).

The package root (`tf_explainer`) holds the version and the lazy API; any layer may read
the version from it.
"""

import ast
import os
import subprocess
import sys

import tensorflow as tf

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tf_explainer")
RANKS = {
  **dict.fromkeys(
    (
      "configs",
      "templates",
      "layers",
      "losses",
      "metrics",
      "io_utils",
      "settings",
      "compat",
      "reproducibility",
      "optimizers",
      "replicas",
    ),
    0,
  ),
  "data": 1,
  "performers": 2,
  "models": 3,
  "evaluation": 3,
  "train": 4,
  **dict.fromkeys(("evaluate_lib", "export_lib", "visualize"), 5),
  **dict.fromkeys(("demo", "api"), 6),
  "cli": 7,
}
PROGRAMS = tuple(
  f"tf_explainer.cli.{name}"
  for name in (
    "demo",
    "evaluate",
    "export",
    "import_performer",
    "pretrain_performer",
    "train_explainer",
    "train_performer",
  )
)


def _modules():
  """`{dotted module name: path}` of every module of the package."""
  modules = {}
  for folder, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        dotted = os.path.relpath(path[:-3], os.path.dirname(PACKAGE)).replace(os.sep, ".")
        modules[dotted.removesuffix(".__init__")] = path
  return modules


def imports(modules):
  """`(importer, imported module, line)` for every import of the package, anywhere."""
  found = []
  for module, path in modules.items():
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    with open(path, encoding="utf-8") as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        found += [(module, a.name, node.lineno) for a in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
          parts = package.split(".")[: len(package.split(".")) - node.level + 1]
          base = ".".join(parts + ([base] if base else []))
        for alias in node.names:
          full = f"{base}.{alias.name}"
          found.append((module, full if full in modules else base, node.lineno))
  return [(a, b, line) for a, b, line in found if b.split(".")[0] == "tf_explainer"]


def rank(module):
  if module.endswith(".__main__"):
    return RANKS["cli"]
  part = module.split(".")[1]
  return RANKS[part]


def part(module):
  return module.split(".")[1] if "." in module else ""


class LayeringTest(tf.test.TestCase):
  def test_every_module_has_a_layer(self):
    for module in _modules():
      if module != "tf_explainer":
        self.assertIn(module.split(".")[1], RANKS, module)

  def test_no_import_points_up(self):
    modules = _modules()
    wrong = []
    for importer, imported, line in imports(modules):
      if importer == "tf_explainer" or imported == "tf_explainer":
        continue  # the root: the version, and the lazy API on top of everything
      if rank(imported) > rank(importer) or {part(importer), part(imported)} == {
        "layers",
        "losses",
      }:
        wrong.append(f"{modules[importer]}:{line} imports {imported}")
    self.assertEqual(wrong, [])

  def test_the_checker_sees_imports_inside_functions(self):
    """This file, read as if it were a data module, imports the cli inside a function."""
    found = imports({**_modules(), "tf_explainer.data.x": __file__})
    with open(__file__, encoding="utf-8") as f:
      line = next(n for n, text in enumerate(f, 1) if text.startswith("  from tf_explainer import"))
    self.assertIn(("tf_explainer.data.x", "tf_explainer.cli", line), found)

  def test_evaluation_and_export_import_nothing_from_train(self):
    code = (
      "import sys\n"
      "import tf_explainer.evaluate_lib, tf_explainer.export_lib, tf_explainer.models.io\n"
      "print(sorted(m for m in sys.modules if m.startswith('tf_explainer.train')))\n"
    )
    result = subprocess.run(
      [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    self.assertEqual(result.stdout.strip().splitlines()[-1], "[]")

  def test_no_function_is_over_80_lines(self):
    """Each function, docstring included, fits on a screen (the issue's bound: 80 lines)."""
    long = []
    for path in _modules().values():
      with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
      for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
          length = node.end_lineno - node.lineno + 1
          if length > 80:
            long.append(f"{path}:{node.lineno} {node.name}: {length} lines")
    self.assertEqual(long, [])

  def test_programs_parse_their_flags_without_tensorflow(self):
    """`--help` needs the flags only: a program module imports no TensorFlow, nor its library."""
    for program in PROGRAMS:  # one process each: every program defines its own flags
      code = (
        f"import sys, {program}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
      )
      result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
      )
      self.assertEqual(result.stdout.strip().splitlines()[-1], "[]", program)


def _a_function_that_imports_upwards():
  from tf_explainer import cli  # noqa: F401 (seen by test_the_checker_sees_imports_inside_functions)


if __name__ == "__main__":
  tf.test.main()
