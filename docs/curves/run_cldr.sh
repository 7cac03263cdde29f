#!/bin/bash
# the shipped recipe with the CLDR phrases added (issue 45): CLDR share of the training pairs as $1 (0.5), seed as $2 (42)
export OPTICAL_HOME=/work/optical-home HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
share=${1:-0.5} seed=${2:-42}
cd /work/main
.venv/bin/optical distill --teacher optical-teacher --out /work/train-runs/cldr$(python3 -c "print(round($share*100))")-s$seed \
   --bitext-sources chromium cldr --cldr-share $share --seed $seed --curve-every 100
