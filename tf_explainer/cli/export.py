"""Exports an explainer with its performer as one SavedModel for TF Serving.

    tf-explainer-export --explainer_dir=/tmp/explainer --export_base=/tmp/serving/explainer \
        --version=1
    python export/export_savedmodel.py ...   # the same program
"""

from tf_explainer import cli, export_lib

main = cli.program(export_lib.ExportSettings, export_lib.run)

if __name__ == "__main__":
  main()
