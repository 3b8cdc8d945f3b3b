"""Exports an explainer as one SavedModel for TF Serving: `python export/export_savedmodel.py --help`.

The program is `tf_explainer.cli.export` (console script `tf-explainer-export`); this file keeps
the repository's layout. Run it with the package installed (`make install`).
"""

from tf_explainer.cli import export

if __name__ == "__main__":
  export.main()
