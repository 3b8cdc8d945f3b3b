"""Exports an explainer as one SavedModel for TF Serving (`--help` lists the flags).

The program is `tf_explainer.cli.export`, installed as the console
script `tf-explainer-export`; this file keeps the repository's layout. Run it with
the package installed (`make install`).
"""

from tf_explainer.cli import export

if __name__ == "__main__":
  export.main()
