"""Pretrains a performer on the synthetic corpus (`--help` lists the flags).

The program is `tf_explainer.cli.pretrain_performer`, installed as the console
script `tf-explainer-pretrain-performer`; this file keeps the repository's layout. Run it with
the package installed (`make install`).
"""

from tf_explainer.cli import pretrain_performer

if __name__ == "__main__":
  pretrain_performer.main()
