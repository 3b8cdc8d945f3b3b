"""The end-to-end demo on the embedded synthetic data (`tf_explainer.demo`).

tf-explainer-demo --work_dir=runs/demo
"""

from tf_explainer import cli, demo

main = cli.program(demo.DemoSettings, demo.run)

if __name__ == "__main__":
  main()
