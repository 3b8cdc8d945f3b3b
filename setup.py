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
        "test": ["pytest>=8,<10", "tensorflow-serving-api>=2.21,<2.22"],
        "serving": ["tensorflow-serving-api>=2.21,<2.22"],
    },
    license="Apache-2.0",
)
