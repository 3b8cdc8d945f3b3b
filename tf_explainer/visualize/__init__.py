"""Pictures of explainers: receptive fields, Grad-CAM, part contributions; the report."""
