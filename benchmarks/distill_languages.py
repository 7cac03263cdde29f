"""Distil the default teacher into one student per language on the shipped bitext, and print the dev-split
translation-retrieval MRR@10 of the teacher (zero-shot, reading the other language) and of each student.

    python benchmarks/distill_languages.py [--steps 150] [--languages sw am mr tl de fr fi] [--out runs/students]

Each run resumes if interrupted; finished students are reused.
"""
import argparse
from pathlib import Path

from pyterrier_optical.data.bitext import CHROMIUM_LANGUAGES, load_bitext
from pyterrier_optical.models.registry import embedded_path
from pyterrier_optical.experiment.report import markdown_table
from pyterrier_optical.train.distill import DistillConfig, OpticalDistiller
from pyterrier_optical.models.checkpoint import is_checkpoint
from pyterrier_optical.models.recipes import TrainingConfig
from pyterrier_optical.train.selection import MAIN_METRIC, read_eval_log


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--align-layer", type=int, default=6)
    parser.add_argument("--languages", nargs="+", default=list(CHROMIUM_LANGUAGES))
    parser.add_argument("--out", default="runs/students")
    args = parser.parse_args()
    teacher = embedded_path("optical-teacher")
    rows = []
    for lang in args.languages:
        out = Path(args.out) / f"{lang}-layer{args.align_layer}-{args.steps}"
        if not is_checkpoint(out):
            distiller = OpticalDistiller(str(teacher), DistillConfig(align_layer=args.align_layer, score_weight=0.0),
                                         TrainingConfig(steps=args.steps, batch_size=16, lr=2e-5, head_lr=None))
            distiller.fit(load_bitext(lang, "train"), out, dev_bitext=load_bitext(lang, "dev"),
                          eval_every=args.steps)
        log = read_eval_log(out)
        first, last = log[0], log[-1]
        rows.append({"lang": lang, "teacher MRR@10": first[MAIN_METRIC], "student MRR@10": last[MAIN_METRIC],
                     "delta": last[MAIN_METRIC] - first[MAIN_METRIC], "OT cost before": first["dev_ot"],
                     "OT cost after": last["dev_ot"]})
    import pandas as pd

    print(markdown_table(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
