#!/usr/bin/env bash
# The paper-scale benchmark on one GPU, for the device machine (under 8 minutes):
#   bash benchmarks/gpu_check.sh            # from the repository root, package installed
# Prints the figures and writes benchmarks/results/paper_scale.json (copy it back and
# rename it paper_scale_gpu.json before it overwrites the CPU figures).
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))"
timeout 470 python -m benchmarks.paper_scale --steps=5 "$@"
