"""Students compared on the dev splits of every bitext source, per language: each reranks mE5's top ``--depth``
English dev strings of that source for the first ``--max-queries`` dev queries, alone and fused with mE5's cosine
(per-query min-max, weight 0.5), as the learning curves do on Kolibri (``train.curve``); mE5 alone is the reference.
Prints one table per source (RR@10) and the low-resource means, and appends the rows to ``--out`` (JSON lines).

    python benchmarks/dev_languages.py optical-student runs/cldr50-s42 [--sources kolibri chromium cldr]
        [--languages yo ha so] [--depth 20] [--max-queries 100] [--out dev.jsonl]

A model is an embedded name or a checkpoint folder (a finished ``optical distill --out`` folder). mE5 and the
students run in fp32 unless ``--precision``.
"""
import argparse
import json

import pandas as pd
from common import machine

from pyterrier_optical import E5Encoder, OpticalReranker
from pyterrier_optical.data.bitext import SOURCES, shipped_languages
from pyterrier_optical.data.languages import language
from pyterrier_optical.experiment.demo import SOURCE_LANGUAGES
from pyterrier_optical.models.recipes import EVAL_BATCH_SIZE
from pyterrier_optical.train.curve import dense_dev_lists, rerank_dev_lists


def languages_of(source: str, wanted) -> list:
    """The languages with ``source`` dev bitext, limited to ``wanted`` when given."""
    shipped = SOURCE_LANGUAGES.get(source) or shipped_languages("cldr")
    return [lang for lang in shipped if not wanted or lang in wanted]


def low_resource_means(frame: pd.DataFrame) -> pd.Series:
    """The mean of each score column over the low-resource rows."""
    return frame[frame["resource"] == "low"].drop(columns=["source", "lang", "resource", "queries"]).mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="embedded names or checkpoint folders")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    parser.add_argument("--languages", nargs="+", help="only these (default: every language of each source)")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--max-queries", type=int, default=100)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--out", help="append the rows (JSON lines) to this file")
    args = parser.parse_args()
    print(machine(), flush=True)
    for code in args.languages or []:
        language(code)  # an unknown code names the known ones
    encoder = E5Encoder(batch_size=EVAL_BATCH_SIZE, precision=args.precision, verbose=False)
    rerankers = {str(m): OpticalReranker(str(m), precision=args.precision, verbose=False) for m in args.models}
    rows = []
    for source in args.sources:
        for lang in languages_of(source, args.languages):
            lists = dense_dev_lists(lang, args.depth, args.max_queries, encoder, source=source)
            row = {"source": source, "lang": lang, "resource": language(lang).resource, "queries": len(lists.queries)}
            for name, reranker in rerankers.items():
                scores = rerank_dev_lists(reranker.scoring_model_, reranker.tokenizer_, lists, reranker.precision_)
                row["mE5"] = scores["mE5"]
                row[f"{name} alone"], row[f"{name} fused"] = scores["alone"], scores["fused"]
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps({**row, "precision": args.precision, "depth": args.depth}) + "\n")
    if not rows:
        raise SystemExit(f"no dev bitext of {', '.join(args.sources)} in {', '.join(args.languages or [])}")
    frame = pd.DataFrame(rows)
    for source, part in frame.groupby("source", sort=False):
        low = low_resource_means(part)
        table = pd.concat([part.drop(columns="source"),
                           pd.DataFrame([{"lang": "low mean", "resource": "low",
                                          "queries": int(part.loc[part["resource"] == "low", "queries"].sum()),
                                          **low.to_dict()}])], ignore_index=True)
        print(f"\n## {source} dev (RR@10, mE5's top {args.depth}, {args.precision})\n")
        print(table.to_markdown(index=False, floatfmt=".3f"))
    means = low_resource_means(frame)
    print(f"\nlow-resource mean over every source's languages ({int((frame['resource'] == 'low').sum())} lists):")
    print(pd.DataFrame([means]).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
