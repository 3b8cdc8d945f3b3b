"""Performers: the CNNs that explainers explain."""

from tf_explainer.performers import alexnet, vgg
from tf_explainer.performers.base import (
  ARCHITECTURES,
  PerformerSpec,
  feature_model,
  image_probe,
  layer_weights,
  plain_graph_copy,
  retarget,
)


def min_input_size(arch):
  """Smallest input side at which the target map is at least 6 x 6."""
  sizes = {
    "alexnet": alexnet.min_input_size(),
    "vgg_m": vgg.vgg_m_min_input_size(),
    "vgg_s": vgg.vgg_s_min_input_size(),
    "vgg16": 96,
  }
  if arch not in sizes:
    raise ValueError(f"Unknown arch={arch!r}; choose one of {ARCHITECTURES}.")
  return sizes[arch]


def build_performer(arch, num_classes, image_size, width=1.0, fc_units=4096, **kwargs):
  """Builds `(model, spec)` for `arch` in `ARCHITECTURES`."""
  builders = {
    "alexnet": alexnet.build,
    "vgg_m": vgg.build_vgg_m,
    "vgg_s": vgg.build_vgg_s,
    "vgg16": vgg.build_vgg16,
  }
  if arch not in builders:
    raise ValueError(f"Unknown arch={arch!r}; choose one of {ARCHITECTURES}.")
  return builders[arch](
    num_classes, image_size=image_size, width=width, fc_units=fc_units, **kwargs
  )


__all__ = [
  "ARCHITECTURES",
  "PerformerSpec",
  "build_performer",
  "feature_model",
  "image_probe",
  "layer_weights",
  "min_input_size",
  "plain_graph_copy",
  "retarget",
]
