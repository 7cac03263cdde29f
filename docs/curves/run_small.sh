#!/bin/bash
# the 6-layer student of the shipped recipe (issue 46), seed 42
export OPTICAL_HOME=/work/optical-home HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
cd /work/main
for layers in 6; do
  .venv/bin/optical distill --teacher optical-teacher --out /work/train-runs/small${layers}-s42 \
     --student-layers $layers --seed 42 --curve-every 100 --quiet
done
