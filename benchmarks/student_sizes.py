"""How fast a student with fewer layers reranks, and where each size stands on dev: the frontier of issue 46. Speed:
the shipped student cut to ``--layers`` transformer blocks as ``optical distill --student-layers N`` cuts it
(``train.layers.keep_blocks``: evenly spaced, the last one kept; the speed of a trained student of that size, whose
weights differ but not its shapes), written as a checkpoint and loaded by ``OpticalReranker`` in each backend and
precision this CPU runs (``--all-configurations``; default: the default configuration); pairs/s on the reranking
work of ``benchmarks/rerank.py`` (real queries, English passages of 1-12 sentences) and on short interface strings,
the sizes alternating, median and spread of ``--repeats``.

Quality: with ``--curves N=FOLDER ...`` each size's learning curve (``curve.jsonl`` of its distillation run: dev
low-resource RR@10 on mE5's top 20 of the Kolibri dev splits, alone and fused with mE5) at every logged step.

    python benchmarks/student_sizes.py [--layers 12 8 6] [--queries 50] [--depth 10] [--repeats 3]
        [--curves 12=docs/curves/lever-dense-teacher-0.5-s42 6=docs/curves/small6-s42]
"""
import argparse
import copy
import json
import statistics
import tempfile
from pathlib import Path

import pandas as pd
from common import alternating, configurations, english_strings, label, machine, make_pairs, spread

from pyterrier_optical import OpticalReranker
from pyterrier_optical.models.checkpoint import write_checkpoint
from pyterrier_optical.train.layers import keep_blocks


def cut_students(layers: list, folder: Path) -> dict:
    """Layer count -> a checkpoint folder of the shipped student cut to that many blocks (12: as shipped)."""
    shipped = OpticalReranker("optical-student", precision="fp32", device="cpu", verbose=False)
    folders = {}
    for n in layers:
        model = keep_blocks(copy.deepcopy(shipped.model_), n)
        folders[n] = write_checkpoint(model, shipped.tokenizer_, folder / f"student-{n}",
                                      {"note": f"the shipped student cut to {n} blocks, for timing"})
    return folders


def curve_rows(curves: list) -> pd.DataFrame:
    """One row per (size, step) of the ``N=FOLDER`` learning curves."""
    rows = []
    for item in curves:
        size, folder = item.split("=", 1)
        for line in (Path(folder) / "curve.jsonl").read_text().splitlines():
            record = json.loads(line)
            rows.append({"layers": int(size), "run": Path(folder).name, "step": record["step"],
                         "low alone": record["low_alone"], "low fused": record["low_fused"],
                         "high alone": record["high_alone"]})
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, nargs="+", default=[12, 8, 6])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--all-configurations", action="store_true", help="every backend and precision this CPU runs "
                        "(default: only the default, torch at precision auto)")
    parser.add_argument("--curves", nargs="*", default=[], metavar="N=FOLDER")
    args = parser.parse_args()
    print(machine(), flush=True)
    passages = make_pairs(args.queries, args.depth)
    strings = english_strings(len(passages))
    workloads = {"passages (1-12 sentences)": passages,
                 "interface strings": [(q, s) for (q, _), s in zip(passages, strings)]}
    rows = []
    with tempfile.TemporaryDirectory(prefix="student-sizes-") as tmp:
        folders = cut_students(args.layers, Path(tmp))
        default = OpticalReranker(str(folders[args.layers[0]]), device="cpu", verbose=False).precision_
        runs = [("torch", "auto")]
        if args.all_configurations:
            runs += [c for c in configurations() if c != ("torch", default)]
            runs += [("openvino", "int8")] * (("openvino", "fp32") in runs)
        for backend, precision in runs:
            rerankers = {n: OpticalReranker(str(f), backend=backend, precision=precision, device="cpu",
                                            verbose=False) for n, f in folders.items()}
            name = label(backend, rerankers[args.layers[0]].precision_) + (" (default)" if precision == "auto" else "")
            for work, pairs in workloads.items():
                queries, texts = [q for q, _ in pairs], [d for _, d in pairs]
                seconds = alternating({n: (lambda r=r: r.score(queries, texts)) for n, r in rerankers.items()},
                                      args.repeats)
                full = statistics.median(seconds[max(args.layers)])
                for n, s in seconds.items():
                    rows.append({"configuration": name, "work": work, "layers": n,
                                 "pairs/s": spread([len(pairs) / t for t in s]),
                                 f"speed-up over {max(args.layers)}": f"{full / statistics.median(s):.2f}x"})
                print(pd.DataFrame(rows[-len(seconds):]).to_markdown(index=False), flush=True)
    print("\n## Speed\n")
    print(pd.DataFrame(rows).to_markdown(index=False))
    if args.curves:
        print("\n## Dev learning curves (Kolibri dev, mE5's top 20, RR@10)\n")
        print(curve_rows(args.curves).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
