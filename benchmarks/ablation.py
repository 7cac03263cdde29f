"""The distillation ablation of the README: which parts of the OPTICAL recipe matter, selected on the Kolibri dev
splits (another source than the Chromium training bitext). Resumable: finished runs are skipped.

    python benchmarks/ablation.py [--out runs/ablation] [--steps 25] [--variants ...]

Every variant changes one thing of the recipe (OT at layer 6, epsilon 0.05 of the cost spread, score distillation,
sentences encoded alone). "code-switched bitext" keeps the recipe but the student reads its side of each pair
code-switched back into English at ratio 0.5 (each language with its shipped lexicon).
"""
import argparse
from dataclasses import replace

from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.retrieve.codeswitch import code_switch_pairs
from pyterrier_optical.data.bitext import mixed_bitext
from pyterrier_optical.models.recipes import STUDENT
from pyterrier_optical.models.registry import embedded_path
from pyterrier_optical.data.lexicon import shipped_lexicon
from pyterrier_optical.experiment.report import markdown_table
from pyterrier_optical.train.sweep import distillation_sweep, sweep_results

VARIANTS = {
    "recipe (OT + score)": {},
    "score only (no OT)": {"ot_weight": 0.0},
    "OT only (sentences alone)": {"score_weight": 0.0},
    "OT in pair context + score": {"pair_context": True},
    "OT only in pair context": {"pair_context": True, "score_weight": 0.0},
    "align layer 3": {"align_layer": 3},
    "align last layer (12)": {"align_layer": "last"},
    "epsilon 0.01": {"epsilon": 0.01},
    "epsilon 0.2": {"epsilon": 0.2},
    "recipe + English preservation": {"english_weight": 1.0},
    "English preservation only (no OT, no score)": {"ot_weight": 0.0, "score_weight": 0.0, "english_weight": 1.0},
}
CODE_SWITCHED = "code-switched bitext (p 0.5)"


def code_switched_bitext(p: float) -> list:
    """The student languages' training bitext with the other side code-switched back into English at ratio ``p``
    (each language with its shipped lexicon)."""
    pairs = []
    for lang in STUDENT.languages:
        pairs += code_switch_pairs(load_bitext(lang, "train"), [shipped_lexicon(lang)], p, seed=42, side=1)[0]
    return pairs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--variants", nargs="+", choices=[*VARIANTS, CODE_SWITCHED], default=[*VARIANTS, CODE_SWITCHED])
    args = parser.parse_args()
    dev = mixed_bitext(STUDENT.languages, "dev", STUDENT.dev_source)
    training = replace(STUDENT.training, steps=args.steps, checkpoint_every=args.steps)
    teacher, base = str(embedded_path("optical-teacher")), STUDENT.distillation
    chosen = {v: VARIANTS[v] for v in args.variants if v in VARIANTS}
    if chosen:
        distillation_sweep(teacher, chosen, mixed_bitext(STUDENT.languages, "train"), dev, args.out, training, base)
    if CODE_SWITCHED in args.variants:
        distillation_sweep(teacher, {CODE_SWITCHED: {}}, code_switched_bitext(0.5), dev, args.out, training, base)
    print(markdown_table(sweep_results(args.out)[["run", "teacher", "last", "best", "selected_step", "steps"]]))
