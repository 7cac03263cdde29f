"""The default OPTICAL recipe with three seeds: dev MRR@10 on the Kolibri dev splits (selection) and
translation-retrieval MRR@10 on each language's Chromium test split (the answer among itself and 9 BM25
neighbours; 100 queries per language), mean and spread. Finished runs are skipped; seed 42 is the embedded student.

    python benchmarks/seeds.py [--out runs/seeds] [--seeds 42 43 44] [--steps N] [--queries 100]

``--steps`` shortens the recipe (a smoke run; seed 42 is then trained too, not linked to the embedded student).
"""
import argparse
from dataclasses import replace
from pathlib import Path

import pandas as pd

from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.data.bitext import mixed_bitext
from pyterrier_optical.models.recipes import STUDENT
from pyterrier_optical.models.registry import embedded_path
from pyterrier_optical.train.selection import translation_candidates, translation_retrieval_mrr
from pyterrier_optical.models.cross_encoder import load_cross_encoder
from pyterrier_optical.experiment.report import markdown_table
from pyterrier_optical.train.sweep import distillation_sweep


def test_mrr(path, queries: int) -> dict:
    model, tokenizer, _ = load_cross_encoder(str(path), "cpu")
    scores = {}
    for lang in STUDENT.languages:
        pairs = load_bitext(lang, "test")[:queries]
        pools = translation_candidates([en for en, _ in pairs], 10)
        scores[lang] = translation_retrieval_mrr(model, tokenizer, [other for _, other in pairs], pools)
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/seeds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--steps", type=int, help="default: the recipe's")
    parser.add_argument("--queries", type=int, default=100, help="test queries per language")
    args = parser.parse_args()
    training, eval_every = STUDENT.training, STUDENT.eval_every
    if args.steps:
        training = replace(training, steps=args.steps, checkpoint_every=args.steps)
        eval_every = min(eval_every, args.steps)
    embedded = embedded_path("optical-student")
    out = Path(args.out)
    if 42 in args.seeds and not args.steps and not (out / "seed-42").exists():
        out.mkdir(parents=True, exist_ok=True)
        (out / "seed-42").symlink_to(embedded.resolve())
    variants = {f"seed-{s}": ({}, {"seed": s}) for s in args.seeds}
    table = distillation_sweep(str(embedded_path("optical-teacher")), variants,
                               mixed_bitext(STUDENT.languages, "train"),
                               mixed_bitext(STUDENT.languages, "dev", STUDENT.dev_source), out,
                               training, STUDENT.distillation, eval_every)
    rows = [{"model": "teacher", "kolibri dev": table["teacher"].iloc[0],
             **test_mrr(embedded_path("optical-teacher"), args.queries)}]
    for _, run in table.iterrows():
        rows.append({"model": run["run"], "selected step": run["selected_step"], "kolibri dev": run["best"],
                     **test_mrr(out / run["run"], args.queries)})
    frame = pd.DataFrame(rows)
    students = frame[frame["model"] != "teacher"].drop(columns=["model", "selected step"])
    frame = pd.concat([frame, students.mean().to_frame().T.assign(model="mean"),
                       students.std().to_frame().T.assign(model="std")], ignore_index=True)
    frame.to_csv(out / "seeds.csv", index=False)
    print(markdown_table(frame))
