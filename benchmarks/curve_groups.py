"""Two groups of distillation runs (seeds of two recipes) at the steps every run logged: the learning curves'
Kolibri dev RR@10 (mE5's top 20) per group as mean and range, and a Welch t-test of the group means per column.

    python benchmarks/curve_groups.py --a docs/curves/lever-dense-teacher-0.5-s4{2,3,4} \\
        --b docs/curves/cldr20-s4{2,3,4} [--names "shipped recipe" "CLDR 20%"] [--languages yo ha]

Three seeds a group tell a difference of about two spreads from noise, not less: the p values are read as such.
"""
import argparse

import numpy as np
import pandas as pd
from scipy import stats

from pyterrier_optical.experiment.report import markdown_table
from pyterrier_optical.train.curve import read_curve


def curve_frame(runs: list, languages: list) -> pd.DataFrame:
    """One row per (run, logged step): the low-resource means alone and fused, and ``languages`` alone."""
    rows = []
    for run in runs:
        records = read_curve(run)
        if not records:
            raise SystemExit(f"{run} has no learning curve (no curve.jsonl)")
        for r in records:
            rows.append({"run": run, "step": r["step"], "low alone": r["low_alone"], "low fused": r["low_fused"],
                         **{f"{lang} alone": r["alone"][lang] for lang in languages}})
    return pd.DataFrame(rows).drop_duplicates(["run", "step"], keep="last")  # a run given twice counts once


def compared(a: pd.DataFrame, b: pd.DataFrame, names: tuple) -> pd.DataFrame:
    """Per step that every run of both groups logged and per column: each group's mean (min-max) and Welch's p."""
    steps = sorted(set.intersection(*(set(g["step"]) for frame in (a, b) for _, g in frame.groupby("run"))))
    rows = []
    for step in steps:
        for column in [c for c in a.columns if c not in ("run", "step")]:
            x, y = (frame.loc[frame["step"] == step, column].to_numpy() for frame in (a, b))
            spread = min(len(x), len(y)) > 1 and min(x.std(), y.std()) > 1e-6  # at step 0 a group is one model
            p = stats.ttest_ind(x, y, equal_var=False).pvalue if spread else np.nan
            rows.append({"step": step, "measure": column, **{
                name: f"{v.mean():.3f} ({v.min():.3f}-{v.max():.3f})" for name, v in zip(names, (x, y))},
                "difference": round(float(y.mean() - x.mean()), 3), "Welch p": round(float(p), 3)})
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", nargs="+", required=True, help="the runs of the first group (the reference)")
    parser.add_argument("--b", nargs="+", required=True, help="the runs of the second group")
    parser.add_argument("--names", nargs=2, default=("a", "b"))
    parser.add_argument("--languages", nargs="+", default=["yo", "ha"])
    args = parser.parse_args()
    a, b = curve_frame(args.a, args.languages), curve_frame(args.b, args.languages)
    print(markdown_table(compared(a, b, tuple(args.names))))


if __name__ == "__main__":
    main()
