"""Imports a trained Keras CNN as a performer that the other programs use unchanged.

    tf-explainer-import-performer --model=my_cnn.keras --model_dir=/tmp/performer \
        --target_layer=block5_conv2 --dataset_dir=/tmp/parts
    python training/import_performer.py ...   # the same program
"""

from tf_explainer import cli, configs

main = cli.program(
  configs.ImportSettings,
  "tf_explainer.performers.keras_import:run",
  output_flag="model_dir",
  kind="performer",
)

if __name__ == "__main__":
  main()
