"""The distillation ablation of the README: which parts of the OPTICAL recipe matter, selected on the Kolibri dev
splits (another source than the Chromium training bitext). Resumable: finished runs are skipped.

    python examples/ablation.py [--out runs/ablation] [--steps 25]
"""
import argparse

from pyterrier_optical.bitext import load_bitext
from pyterrier_optical.defaults import STUDENT_DISTILL, STUDENT_LANGUAGES, STUDENT_TRAINING, embedded_path
from pyterrier_optical.distill import DistillConfig
from pyterrier_optical.report import markdown_table
from pyterrier_optical.sweep import distillation_sweep
from pyterrier_optical.training import TrainingConfig

VARIANTS = {
    "recipe (OT + score)": {},
    "score only (no OT)": {"ot_weight": 0.0},
    "OT only (sentences alone)": {"score_weight": 0.0},
    "OT in pair context + score": {"pair_context": True},
}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    bitext = [pair for lang in STUDENT_LANGUAGES for pair in load_bitext(lang, "train")]
    dev = [pair for lang in STUDENT_LANGUAGES for pair in load_bitext(lang, "dev", "kolibri")]
    training = TrainingConfig(**{**STUDENT_TRAINING, "steps": args.steps, "checkpoint_every": args.steps})
    table = distillation_sweep(str(embedded_path("teacher")), {v: VARIANTS[v] for v in args.variants}, bitext, dev,
                               args.out, training, DistillConfig(**STUDENT_DISTILL))
    print(markdown_table(table[["run", "teacher", "last", "best", "selected_step", "steps"]]))
