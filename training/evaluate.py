"""Evaluates an explainer and writes metrics.json and a report (`--help` lists the flags).

The program is `tf_explainer.cli.evaluate`, installed as the console
script `tf-explainer-evaluate`; this file keeps the repository's layout. Run it with
the package installed (`make install`).
"""

from tf_explainer.cli import evaluate

if __name__ == "__main__":
  evaluate.main()
