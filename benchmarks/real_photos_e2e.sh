#!/usr/bin/env bash
# The real-photo run exactly as a user runs it, every program with its defaults, each step
# timed (the 30-minute budget):
#   bash benchmarks/real_photos_e2e.sh <Face-Disguise checkout> [work dir]
# Writes <work dir>/times.txt and prints it; the evaluation's report is in <work dir>/evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
SOURCE=${1:?usage: benchmarks/real_photos_e2e.sh <Face-Disguise checkout> [work dir]}
WORK=${2:-runs/faces-e2e}
PY=${PYTHON:-python}
mkdir -p "$WORK"
: > "$WORK/times.txt"
step() {
  local name=$1 start
  shift
  start=$(date +%s)
  "$@"
  echo "$name $(( $(date +%s) - start )) s" | tee -a "$WORK/times.txt"
}
total=$(date +%s)
step convert $PY -m benchmarks.face_disguise --source_dir="$SOURCE" --out_dir="$WORK/data"
step performer $PY training/train_performer.py --dataset_dir="$WORK/data" \
  --model_dir="$WORK/performer" --arch=vgg16 --weights=imagenet --task=single --target_class=face
step explainer $PY training/train_explainer.py --performer_dir="$WORK/performer" \
  --dataset_dir="$WORK/data" --model_dir="$WORK/explainer"
step evaluate $PY training/evaluate.py --explainer_dir="$WORK/explainer" \
  --dataset_dir="$WORK/data" --output_dir="$WORK/evaluation"
step export $PY export/export_savedmodel.py --explainer_dir="$WORK/explainer" \
  --export_base="$WORK/serving"
echo "total $(( $(date +%s) - total )) s" | tee -a "$WORK/times.txt"
