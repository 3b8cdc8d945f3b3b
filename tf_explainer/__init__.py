"""tf_explainer: learn explainer networks that disentangle a CNN's features into object parts."""

__version__ = "0.1.0"
