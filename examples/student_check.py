"""Which student ranks hard candidates best? Each checkpoint reranks mE5's top ``--depth`` on the Kolibri dev splits
(the candidate lists a dense first stage hands a reranker; Kolibri dev MRR on BM25 lists is near .95 for every
recent student, too easy to tell them apart), alone and fused with mE5 (min-max, ``--weight``), against mE5
retrieval (paired t-test, Bonferroni over the systems).

    python examples/student_check.py NAME=CHECKPOINT ... [--depth 20] [--queries 100] [--weight 0.5]

A checkpoint is a folder or an embedded name (optical-teacher, optical-student, optical-codeswitch-student, ...).
"""
import argparse
from pathlib import Path

import pyterrier as pt

from pyterrier_optical import OpticalReranker
from pyterrier_optical.data.bitext import KOLIBRI_LANGUAGES
from pyterrier_optical.experiment.compare import compare
from pyterrier_optical.experiment.demo import SOURCES, Demo
from pyterrier_optical.experiment.fusion import fused
from pyterrier_optical.experiment.report import markdown_table
from pyterrier_optical.rerank.dense import E5Encoder

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="NAME=CHECKPOINT")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--weight", type=float, default=0.5)
    parser.add_argument("--out", default="runs/student-check", help="indexes and score caches")
    args = parser.parse_args()
    models = dict(m.split("=", 1) for m in args.models)
    rerankers = {name: OpticalReranker(path, verbose=False) for name, path in models.items()}
    demo = Demo(Path(args.out), rerankers, E5Encoder(cache=True), verbose=False)
    systems, datasets = {"mE5 retrieval": {}}, {}
    for lang in KOLIBRI_LANGUAGES:
        collection = SOURCES["kolibri"].format(lang, "dev")
        dataset = pt.get_dataset(f"irds:{collection}")
        datasets[lang] = (dataset.get_topics().head(args.queries), dataset.get_qrels())
        dense = demo.first_stages(collection, lang)["dense"]
        systems["mE5 retrieval"][lang] = dense
        for name in rerankers:
            systems.setdefault(name, {})[lang] = dense % args.depth >> demo.scorer(name, collection)
            systems.setdefault(f"mE5 + {name} ({args.weight:g})", {})[lang] = fused(
                dense % args.depth, demo.scorer(name, collection), args.weight)
    result = compare(systems, datasets, ["RR@10"], "mE5 retrieval", tests="t", correction="bonferroni")
    means = result.means()
    cells = means.assign(cell=means.apply(lambda r: f"{r['value']:.3f}" + ("*" if r["significant"] else ""), axis=1))
    wide = cells.pivot(index="system", columns="lang", values="cell")[list(KOLIBRI_LANGUAGES)]
    low = means[means["resource"] == "low"].groupby("system")["value"].mean().rename("low-resource mean")
    print(markdown_table(wide.join(low.round(3)).loc[list(systems)].reset_index()))
