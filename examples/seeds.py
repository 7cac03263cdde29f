"""The default OPTICAL recipe with three seeds: dev MRR@10 on the Kolibri dev splits (selection) and
translation-retrieval MRR@10 on each language's Chromium test split (the answer among itself and 9 BM25
neighbours; 100 queries per language), mean and spread. Finished runs are skipped; seed 42 is the embedded student.

    python examples/seeds.py [--out runs/seeds] [--seeds 42 43 44]
"""
import argparse
from pathlib import Path

import pandas as pd

from pyterrier_optical.bitext import load_bitext
from pyterrier_optical.defaults import (STUDENT_DISTILL, STUDENT_EVAL_EVERY, STUDENT_LANGUAGES, STUDENT_TRAINING,
                                        embedded_path, student_bitext)
from pyterrier_optical.distill import DistillConfig
from pyterrier_optical.evaluation import translation_retrieval_mrr
from pyterrier_optical.model import load_cross_encoder
from pyterrier_optical.report import markdown_table
from pyterrier_optical.sweep import distillation_sweep
from pyterrier_optical.training import TrainingConfig


def test_mrr(path) -> dict:
    model, tokenizer, _ = load_cross_encoder(str(path), "cpu")
    return {lang: translation_retrieval_mrr(model, tokenizer, load_bitext(lang, "test"), max_queries=100)
            for lang in STUDENT_LANGUAGES}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/seeds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    args = parser.parse_args()
    embedded = embedded_path("student")
    out = Path(args.out)
    if 42 in args.seeds and not (out / "seed-42").exists():
        out.mkdir(parents=True, exist_ok=True)
        (out / "seed-42").symlink_to(embedded.resolve())
    variants = {f"seed-{s}": ({}, {"seed": s}) for s in args.seeds}
    table = distillation_sweep(str(embedded_path("teacher")), variants, student_bitext("train"),
                               student_bitext("dev", "kolibri"), out,
                               TrainingConfig(**STUDENT_TRAINING), DistillConfig(**STUDENT_DISTILL), STUDENT_EVAL_EVERY)
    rows = [{"model": "teacher", "kolibri dev": table["teacher"].iloc[0], **test_mrr(embedded_path("teacher"))}]
    for _, run in table.iterrows():
        rows.append({"model": run["run"], "selected step": run["selected_step"], "kolibri dev": run["best"],
                     **test_mrr(out / run["run"])})
    frame = pd.DataFrame(rows)
    students = frame[frame["model"] != "teacher"].drop(columns=["model", "selected step"])
    frame = pd.concat([frame, students.mean().to_frame().T.assign(model="mean"),
                       students.std().to_frame().T.assign(model="std")], ignore_index=True)
    frame.to_csv(out / "seeds.csv", index=False)
    print(markdown_table(frame))
