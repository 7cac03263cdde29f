"""Fidelity of reduced precision: the embedded OPTICAL student reranking the demo's first stage (BM25 over the English
documents, queries translated with the shipped lexicon, top ``--depth``) on the shipped test splits, scored in fp32
and in bf16 on the same pairs. Per language: MRR@10 in both (goal: within +-0.005), the largest absolute score
difference, and the mean per-query Kendall tau of the reranked lists (goal >= 0.98); and the time each took.

    python benchmarks/precision.py [--max-queries 200] [--depth 10] [--model optical-student]
"""
import argparse
import tempfile
import time

import ir_measures
import numpy as np
import pandas as pd
import pyterrier as pt
from common import machine
from ir_measures import RR
from scipy.stats import kendalltau

from pyterrier_optical import OpticalReranker
from pyterrier_optical.data.bitext import CHROMIUM_LANGUAGES, KOLIBRI_LANGUAGES
from pyterrier_optical.experiment.demo import first_stage
from pyterrier_optical.experiment.report import markdown_table
from pyterrier_optical.retrieve.bm25 import MultilingualBM25


def mrr(run: pd.DataFrame, qrels: pd.DataFrame) -> float:
    """MRR@10 over the queries that were run (a judged query left out would count as 0)."""
    qrels = qrels[qrels["qid"].isin(set(run["qid"]))]
    return ir_measures.calc_aggregate([RR @ 10], qrels.rename(columns={"qid": "query_id", "docno": "doc_id",
                                                                       "label": "relevance"}),
                                      run.rename(columns={"qid": "query_id", "docno": "doc_id"}))[RR @ 10]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-queries", type=int, default=200)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--model", default="optical-student")
    args = parser.parse_args()
    print(machine())
    rerankers = {p: OpticalReranker(args.model, batch_size=64, verbose=False, precision=p) for p in ("fp32", "bf16")}
    collections = [(f"optical/ui/{lang}-en/test", lang) for lang in CHROMIUM_LANGUAGES] + \
        [(f"optical/ui-kolibri/{lang}-en/test", lang) for lang in KOLIBRI_LANGUAGES]
    rows, scratch = [], tempfile.mkdtemp(prefix="precision-bench-")
    for collection, lang in collections:
        dataset = pt.get_dataset(f"irds:{collection}")
        index = MultilingualBM25(f"{scratch}/{collection.replace('/', '_')}", lang="en", verbose=False)
        index.index(dataset.get_corpus_iter(verbose=False))
        top = (first_stage(lang, index) % args.depth)(dataset.get_topics().head(args.max_queries))
        runs, seconds = {}, {}
        for precision, reranker in rerankers.items():
            start = time.perf_counter()
            runs[precision] = reranker(top)
            seconds[precision] = time.perf_counter() - start
        both = runs["fp32"].merge(runs["bf16"], on=["qid", "docno"], suffixes=("_fp32", "_bf16"))
        taus = [kendalltau(g["score_fp32"], g["score_bf16"]).statistic for _, g in both.groupby("qid") if len(g) > 1]
        qrels = dataset.get_qrels()
        rows.append({"collection": collection.split("/")[1], "lang": lang, "queries": top["qid"].nunique(),
                     "pairs": len(top), "MRR@10 fp32": mrr(runs["fp32"], qrels),
                     "MRR@10 bf16": mrr(runs["bf16"], qrels),
                     "max |diff|": float(np.abs(both["score_fp32"] - both["score_bf16"]).max()),
                     "mean tau": float(np.nanmean(taus)), "fp32 s": seconds["fp32"], "bf16 s": seconds["bf16"]})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["delta"] = table["MRR@10 bf16"] - table["MRR@10 fp32"]
    print(markdown_table(table, 4))
    print(f"largest |MRR@10 delta| {table['delta'].abs().max():.4f} (goal <= 0.005); lowest mean tau "
          f"{table['mean tau'].min():.3f} (goal >= 0.98); bf16 {table['fp32 s'].sum() / table['bf16 s'].sum():.2f}x "
          "faster")


if __name__ == "__main__":
    main()
