"""The explainer network and the model files of performers and explainers."""

from tf_explainer.models.explainer import Explainer, ExplainerConfig

__all__ = ["Explainer", "ExplainerConfig"]
