#!/bin/bash
# the shipped recipe with the CLDR phrases added at half the pairs (issue 45), seed 42; waits for the small run
export OPTICAL_HOME=/work/optical-home HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export OMP_NUM_THREADS=1
cd /work/main
.venv/bin/optical distill --teacher optical-teacher --out /work/train-runs/cldr50-s42 \
   --bitext-sources chromium cldr --cldr-share 0.5 --seed 42 --curve-every 100 --quiet
