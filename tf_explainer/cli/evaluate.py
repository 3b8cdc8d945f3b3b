"""Evaluates an explainer as the paper does and writes metrics.json and a report.

    tf-explainer-evaluate --explainer_dir=/tmp/explainer --dataset_dir=/tmp/parts \
        --output_dir=/tmp/eval
    python training/evaluate.py ...   # the same program
"""

from tf_explainer import cli, configs

main = cli.program(
  configs.EvaluationSettings, "tf_explainer.evaluate_lib:run", output_flag="output_dir"
)

if __name__ == "__main__":
  main()
