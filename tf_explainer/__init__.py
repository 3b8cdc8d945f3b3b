"""tf_explainer: learn explainer networks that disentangle a CNN's features into object parts.

The Python API (`tf_explainer.api`):

    import tf_explainer as tfe
    explainer = tfe.Explainer.from_performer(model, target_layer="block5_conv2")
    explainer.fit(images, epochs=40)
"""

__version__ = "0.1.0"


def __getattr__(name):
  # Lazy, so that `import tf_explainer` (and every program's --help) does not load TensorFlow.
  if name in ("Explainer", "load_explainer"):
    from tf_explainer import api

    return getattr(api, name)
  raise AttributeError(f"module 'tf_explainer' has no attribute {name!r}")


__all__ = ["Explainer", "load_explainer", "__version__"]
