"""Training: strategies, configuration, the feature cache, and the two training runs."""
