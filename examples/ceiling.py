"""How far could any reranker or fusion of the baseline's candidates go, and could it be significant with this many
queries? Reads a finished report's per-query results (``optical demo`` writes them) and prints the reranking ceiling
of each comparison against the baseline (:func:`pyterrier_optical.experiment.report.reranking_ceiling`), on all its
queries or on the first ``--queries`` of each language (the demo's topics are in a fixed order, so the first 100 of a
``--max-queries 550`` run are the 100 of the default run).

    python examples/ceiling.py runs/demo550 [--queries 100]
"""
import argparse
from pathlib import Path

import pandas as pd

from pyterrier_optical.experiment import Comparison
from pyterrier_optical.experiment.report import reranking_ceiling


def markdown(frame, digits: int = 3) -> str:
    """A DataFrame as a Markdown table, numbers rounded."""
    def cell(v):
        if isinstance(v, bool):
            return "yes" if v else ""
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(map(cell, row)) + " |" for row in frame.itertuples(index=False)])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="a report folder")
    parser.add_argument("--queries", type=int, help="the first N queries of each language (default: all)")
    parser.add_argument("--baseline", default="mE5 retrieval")
    args = parser.parse_args()
    for results in sorted(args.report.glob("ceiling-*.csv")):
        per_query = pd.read_csv(args.report / results.name.replace("ceiling", "per_query"), dtype={"qid": str})
        if args.queries:
            first = per_query.drop_duplicates(["lang", "qid"]).groupby("lang", sort=False).head(args.queries)
            per_query = per_query.merge(first[["lang", "qid"]])
        print(f"{results.name}:\n")
        print(markdown(reranking_ceiling(Comparison(pd.DataFrame(), per_query, args.baseline))), "\n")


if __name__ == "__main__":
    main()
