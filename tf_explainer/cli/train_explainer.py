"""Distils an explainer from a trained performer, without any annotation.

    tf-explainer-train-explainer --performer_dir=/tmp/performer \
        --dataset_dir=/tmp/parts --model_dir=/tmp/explainer --epochs=20
    python training/train_explainer.py ...   # the same program
"""

from tf_explainer import cli, configs

main = cli.program(
  configs.ExplainerSettings,
  "tf_explainer.train.explainer_lib:run",
  output_flag="model_dir",
  kind="explainer",
)

if __name__ == "__main__":
  main()
