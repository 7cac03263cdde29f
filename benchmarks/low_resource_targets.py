"""A candidate student against the shipped one, mE5 and the teacher on the full test splits (issue 45's targets):
each reranks BM25's top 10 (queries translated with the shipped lexicon) and mE5's top 10 of every test collection
named, with the demo's indexes and score caches (``experiment.demo.Demo``); paired t-tests, Bonferroni over the
systems per language, as the study's.

    python benchmarks/low_resource_targets.py runs/cldr50-s42 [--sources kolibri chromium cldr]
        [--cldr-languages so yo ha] [--out runs/targets] [--precision fp32]

Printed per source: RR@10 of every system with its p against mE5 retrieval, and the candidate against the shipped
student on the same first stage (delta, p). The targets: the candidate on either first stage significantly above mE5
on Kolibri yo and ha; no significant loss against the shipped student on any Chromium or Kolibri language; on the
CLDR test split of Somali above mE5 and above the teacher.
"""
import argparse
from pathlib import Path

import pandas as pd
import pyterrier as pt
from common import machine

from pyterrier_optical import E5Encoder, OpticalReranker
from pyterrier_optical.data.bitext import CHROMIUM_LANGUAGES, KOLIBRI_LANGUAGES
from pyterrier_optical.experiment.compare import compare
from pyterrier_optical.experiment.demo import DENSE, MEASURES, SOURCES, Demo, first_stage
from pyterrier_optical.experiment.demo_options import FIRST_STAGE_DEPTH
from pyterrier_optical.experiment.stats import significance_table

RERANKERS = {"teacher": "optical-teacher", "shipped student": "optical-student"}
DEPTH = 10


def systems_of(demo: Demo, collection: str, lang: str) -> dict:
    """mE5 retrieval, and each reranker on BM25's and on mE5's top ``DEPTH``."""
    bm25 = first_stage(lang, demo.bm25_index(collection)) % DEPTH
    dense = demo.dense_index(collection).retriever(FIRST_STAGE_DEPTH)
    systems = {DENSE: dense}
    for name in demo.rerankers:
        systems[f"{name} (BM25 top {DEPTH})"] = bm25 >> demo.scorer(name, collection)
        systems[f"{name} (mE5 top {DEPTH})"] = dense % DEPTH >> demo.scorer(name, collection)
    return systems


def against(per_query: pd.DataFrame, baseline: str, system: str) -> pd.DataFrame:
    """``system`` against ``baseline`` alone (one paired t-test per language, no correction: one comparison)."""
    pair = per_query[per_query["system"].isin([baseline, system]) & (per_query["measure"] == "RR@10")]
    table = significance_table(pair, baseline, tests=["t"], correction=None)
    return table[table["system"] == system][["lang", "value", "delta", "p"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidate", help="the candidate student: a checkpoint folder or an embedded name")
    parser.add_argument("--sources", nargs="+", default=["kolibri", "cldr", "chromium"],
                        choices=["kolibri", "cldr", "chromium"])
    parser.add_argument("--cldr-languages", nargs="+", default=["so", "yo", "ha"])
    parser.add_argument("--max-queries", type=int, help="per language (default: the whole test split)")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--out", default="runs/targets", help="indexes, score caches and saved runs (resumable)")
    args = parser.parse_args()
    print(machine(), flush=True)
    models = {**RERANKERS, "candidate": args.candidate}
    rerankers = {name: OpticalReranker(str(m), precision=args.precision, verbose=False) for name, m in models.items()}
    demo = Demo(Path(args.out), rerankers, E5Encoder(precision=args.precision, cache=True), DEPTH, verbose=False)
    languages = {"kolibri": KOLIBRI_LANGUAGES, "chromium": CHROMIUM_LANGUAGES, "cldr": args.cldr_languages}
    for source in args.sources:
        systems, datasets = {}, {}
        for lang in languages[source]:
            collection = SOURCES[source].format(lang, "test")
            dataset = pt.get_dataset(f"irds:{collection}")
            datasets[lang] = (dataset.get_topics().head(args.max_queries), dataset.get_qrels())
            for name, pipeline in systems_of(demo, collection, lang).items():
                systems.setdefault(name, {})[lang] = pipeline
        result = compare(systems, datasets, MEASURES, DENSE, tests=["t"], correction="bonferroni",
                         save_dir=demo.out / "runs" / source)
        means = result.means()
        means = means[means["measure"] == "RR@10"]
        print(f"\n## {source} test, RR@10 (p: paired t-test against {DENSE}, Bonferroni over the systems)\n")
        wide = means.pivot(index="system", columns="lang", values="value")[list(languages[source])]
        p = means.pivot(index="system", columns="lang", values="p_corrected")[list(languages[source])]
        cells = wide.map("{:.3f}".format) + p.map(lambda v: "" if pd.isna(v) else f" (p {v:.3g})")
        print(cells.loc[list(systems)].to_markdown())
        for stage in ("BM25", "mE5"):
            for baseline in ("shipped student", "teacher"):
                row = against(result.per_query, f"{baseline} ({stage} top {DEPTH})", f"candidate ({stage} top {DEPTH})")
                print(f"\ncandidate against the {baseline} on {stage}'s top {DEPTH} (paired t-test per language):\n")
                print(row.to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
