"""Trains a performer (AlexNet, VGG-M, VGG-S or VGG-16) on a CUB-layout dataset.

    tf-explainer-train-performer --dataset_dir=/tmp/parts --model_dir=/tmp/performer \
        --arch=alexnet --epochs=30
    python training/train_performer.py ...   # the same program
"""

from tf_explainer import cli, configs

main = cli.program(
  configs.PerformerSettings,
  "tf_explainer.train.performer_lib:run",
  output_flag="model_dir",
  kind="performer",
)

if __name__ == "__main__":
  main()
