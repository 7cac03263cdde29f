"""Layer 4: training — configs and recipes, the loop, teacher training, OT, distillation, dev selection, sweeps and
the embedded models built from them."""
