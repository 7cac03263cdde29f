"""Which student ranks hard candidates best? Each checkpoint reranks mE5's top ``--depth`` on the Kolibri dev splits
(the candidate lists a dense first stage hands a reranker; Kolibri dev MRR on BM25 lists is near .95 for every
recent student, too easy to tell them apart), alone and fused with mE5 (min-max, ``--weight``), against mE5
retrieval (paired t-test, Bonferroni over the systems).

    python examples/student_check.py NAME=CHECKPOINT ... [--depth 20] [--queries 100] [--weight 0.5]

A checkpoint is a folder or an embedded name (optical-teacher, optical-student, optical-codeswitch-student, ...).
Only the public API: the dense index and the saved runs live under ``--out``, so a second run reuses them.
"""
import argparse
from pathlib import Path

import pyterrier as pt

from pyterrier_optical import DenseIndex, E5Encoder, OpticalReranker, compare, fused
from pyterrier_optical.data.bitext import KOLIBRI_LANGUAGES  # the shipped optical/ui-kolibri/<lang>-en collections

MAX_DEPTH = 100  # documents the dense first stage retrieves


def markdown(frame) -> str:
    """A DataFrame of text cells as a Markdown table."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)])


def dense_retriever(out: Path, encoder: E5Encoder, dataset) -> pt.Transformer:
    index = DenseIndex(out, encoder)
    if not index.built():
        index.index(dataset.get_corpus_iter(verbose=False))
    return index.retriever(MAX_DEPTH)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="NAME=CHECKPOINT")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--weight", type=float, default=0.5)
    parser.add_argument("--languages", nargs="+", default=list(KOLIBRI_LANGUAGES), choices=KOLIBRI_LANGUAGES)
    parser.add_argument("--out", default="runs/student-check", help="dense indexes and saved runs")
    args = parser.parse_args()
    out = Path(args.out)
    rerankers = {name: OpticalReranker(path, verbose=False)
                 for name, path in (m.split("=", 1) for m in args.models)}
    encoder = E5Encoder(cache=True)
    systems, datasets = {"mE5 retrieval": {}}, {}
    for lang in args.languages:
        dataset = pt.get_dataset(f"irds:optical/ui-kolibri/{lang}-en/dev")
        datasets[lang] = (dataset.get_topics().head(args.queries), dataset.get_qrels())
        dense = dense_retriever(out / "dense" / lang, encoder, dataset)
        systems["mE5 retrieval"][lang] = dense
        for name, reranker in rerankers.items():
            systems.setdefault(name, {})[lang] = dense % args.depth >> reranker
            systems.setdefault(f"mE5 + {name} ({args.weight:g})", {})[lang] = fused(dense % args.depth, reranker,
                                                                                     args.weight)
    result = compare(systems, datasets, ["RR@10"], "mE5 retrieval", tests="t", correction="bonferroni",
                     save_dir=out / "runs")
    means = result.means()
    cells = means.assign(cell=means.apply(lambda r: f"{r['value']:.3f}" + ("*" if r["significant"] else ""), axis=1))
    wide = cells.pivot(index="system", columns="lang", values="cell")[args.languages]
    low = means[means["resource"] == "low"].groupby("system")["value"].mean().round(3).rename("low-resource mean")
    print(markdown(wide.join(low).loc[list(systems)].reset_index()))


if __name__ == "__main__":
    main()
