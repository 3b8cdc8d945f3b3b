"""Imports a trained Keras CNN as a performer (`--help` lists the flags).

The program is `tf_explainer.cli.import_performer`, installed as the console
script `tf-explainer-import-performer`; this file keeps the repository's
layout. Run it with the package installed (`make install`).
"""

from tf_explainer.cli import import_performer

if __name__ == "__main__":
  import_performer.main()
