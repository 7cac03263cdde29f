#!/bin/bash
# the shipped recipe with the CLDR phrases added at half the pairs (issue 45); seed as $1 (default 42)
export OPTICAL_HOME=/work/optical-home HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
seed=${1:-42}
cd /work/main
.venv/bin/optical distill --teacher optical-teacher --out /work/train-runs/cldr50-s$seed \
   --bitext-sources chromium cldr --cldr-share 0.5 --seed $seed --curve-every 100
