"""The end-to-end demo on the embedded synthetic data (`tf_explainer.demo`).

tf-explainer-demo --work_dir=runs/demo
"""

from tf_explainer import cli, configs

main = cli.program(configs.DemoSettings, "tf_explainer.demo:run")

if __name__ == "__main__":
  main()
