#!/bin/bash
# a student of the shipped recipe with fewer layers (issue 46): layers as $1 (6), seed as $2 (42)
export OPTICAL_HOME=/work/optical-home HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
layers=${1:-6} seed=${2:-42}
cd /work/main
.venv/bin/optical distill --teacher optical-teacher --out /work/train-runs/small$layers-s$seed \
   --student-layers $layers --seed $seed --curve-every 100 --quiet
