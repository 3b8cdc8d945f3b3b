"""Custom Keras layers of the explainer."""

from tf_explainer.layers.norm_layer import NormLayer
from tf_explainer.layers.sigmoid_gate import SigmoidGate
from tf_explainer.layers.template_mask import TemplateMask

__all__ = ["NormLayer", "SigmoidGate", "TemplateMask"]
