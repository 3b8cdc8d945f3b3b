"""Trains a performer on a CUB-layout dataset (`--help` lists the flags).

The program is `tf_explainer.cli.train_performer`, installed as the console
script `tf-explainer-train-performer`; this file keeps the repository's layout. Run it with
the package installed (`make install`).
"""

from tf_explainer.cli import train_performer

if __name__ == "__main__":
  train_performer.main()
