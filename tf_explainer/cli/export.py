"""Exports an explainer with its performer as one SavedModel for TF Serving.

    tf-explainer-export --explainer_dir=/tmp/explainer --export_base=/tmp/serving/explainer \
        --version=1
    python export/export_savedmodel.py ...   # the same program
"""

from tf_explainer import cli, configs

main = cli.program(configs.ExportSettings, "tf_explainer.export_lib:run", output_flag="export_base")

if __name__ == "__main__":
  main()
