"""Distils an explainer from a trained performer (`--help` lists the flags).

The program is `tf_explainer.cli.train_explainer`, installed as the console
script `tf-explainer-train-explainer`; this file keeps the repository's layout. Run it with
the package installed (`make install`).
"""

from tf_explainer.cli import train_explainer

if __name__ == "__main__":
  train_explainer.main()
