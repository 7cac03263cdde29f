"""How fast a student with fewer layers reranks, and where each size stands on dev: the frontier of issue 46. Speed:
the shipped student cut to ``--layers`` transformer blocks as ``optical distill --student-layers N`` cuts it
(``train.layers.keep_blocks``: evenly spaced, the last one kept; the speed of a trained student of that size, whose
weights differ but not its shapes), written as a checkpoint and loaded by ``OpticalReranker`` in each backend and
precision this CPU runs (``--all-configurations``; default: the default configuration); pairs/s on the reranking
work of ``benchmarks/rerank.py`` (real queries, English passages of 1-12 sentences) and on short interface strings,
the sizes alternating, median and spread of ``--repeats``.

Quality: with ``--curves N=FOLDER ...`` each size's learning curve (``curve.jsonl`` of its distillation run: dev
low-resource RR@10 on mE5's top 20 of the Kolibri dev splits, alone and fused with mE5) at every logged step. With
``--plot FILE`` the frontier: each size's dev low-resource RR@10, alone and fused, at the last step every curve
logged, against its pairs/s on the passages in the default configuration, mE5 alone as a line.

    python benchmarks/student_sizes.py [--layers 12 8 6] [--queries 50] [--depth 10] [--repeats 3]
        [--curves 12=docs/curves/lever-dense-teacher-0.5-s42 8=docs/curves/small8-s42 6=docs/curves/small6-s42]
        [--plot docs/student-frontier.png]
"""
import argparse
import copy
import statistics
import tempfile
from pathlib import Path

import pandas as pd
from common import alternating, configurations, english_strings, label, machine, make_pairs, spread

from pyterrier_optical import OpticalReranker
from pyterrier_optical.models.checkpoint import write_checkpoint
from pyterrier_optical.train.curve import read_curve
from pyterrier_optical.train.layers import keep_blocks

PASSAGES = "passages (1-12 sentences)"


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
        records = read_curve(folder)
        if not records:
            raise SystemExit(f"{folder} has no learning curve (no curve.jsonl)")
        rows += [{"layers": int(size), "run": Path(folder).name, "step": record["step"],
                  "low alone": record["low_alone"], "low fused": record["low_fused"],
                  "high alone": record["high_alone"], "low mE5": record["low_mE5"]} for record in records]
    return pd.DataFrame(rows)


def plot_frontier(curves: pd.DataFrame, rates: dict, out: str) -> pd.DataFrame:
    """Each size's dev low-resource RR@10 at the last step every curve logged, against ``rates`` (layers -> median
    pairs/s on the passages in the default configuration); writes the figure and returns its points."""
    common = set.intersection(*(set(steps) for _, steps in curves.groupby("layers")["step"]))
    if not common:
        raise SystemExit("the learning curves share no logged step")
    step = max(common)
    at_step = curves[curves["step"] == step].drop_duplicates("layers").set_index("layers")
    points = at_step.join(pd.Series(rates, name="pairs/s"), how="inner")
    if points.empty:
        raise SystemExit("no size has both a learning curve and a speed: --layers and --curves name other sizes")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6, 4))
    for kind, style in (("low alone", "-o"), ("low fused", ":s")):
        ax.plot(points["pairs/s"], points[kind], style, label=f"student, {kind.split()[1]}")
    for n, row in points.iterrows():
        ax.annotate(f"{n} layers", (row["pairs/s"], row["low alone"]), textcoords="offset points", xytext=(0, -14),
                    ha="center")
    ax.margins(x=0.12, y=0.1)
    ax.axhline(points["low mE5"].iloc[0], linestyle="--", color="grey", label="mE5 alone")
    ax.set_xlabel(f"pairs/s, {PASSAGES}, default configuration")
    ax.set_ylabel(f"dev low-resource RR@10 at step {step}")
    ax.set_title("Students by size: quality against speed")
    ax.legend(fontsize=8)
    figure.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    return points.reset_index()[["layers", "run", "step", "pairs/s", "low alone", "low fused"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, nargs="+", default=[12, 8, 6])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--all-configurations", action="store_true", help="every backend and precision this CPU runs "
                        "(default: only the default, torch at precision auto)")
    parser.add_argument("--curves", nargs="*", default=[], metavar="N=FOLDER")
    parser.add_argument("--plot", metavar="FILE", help="the frontier figure (needs --curves)")
    args = parser.parse_args()
    if args.plot and not args.curves:
        parser.error("--plot draws the learning curves' points: give --curves N=FOLDER ...")
    curves = curve_rows(args.curves) if args.curves else None
    print(machine(), flush=True)
    passages = make_pairs(args.queries, args.depth)
    strings = english_strings(len(passages))
    workloads = {PASSAGES: passages,
                 "interface strings": [(q, s) for (q, _), s in zip(passages, strings)]}
    rows, passage_rates = [], {}
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
                    if work == PASSAGES and precision == "auto":
                        passage_rates[n] = statistics.median([len(pairs) / t for t in s])
                    rows.append({"configuration": name, "work": work, "layers": n,
                                 "pairs/s": spread([len(pairs) / t for t in s]),
                                 f"speed-up over {max(args.layers)}": f"{full / statistics.median(s):.2f}x"})
                print(pd.DataFrame(rows[-len(seconds):]).to_markdown(index=False), flush=True)
    print("\n## Speed\n")
    print(pd.DataFrame(rows).to_markdown(index=False))
    if curves is not None:
        print("\n## Dev learning curves (Kolibri dev, mE5's top 20, RR@10)\n")
        print(curves.drop(columns="low mE5").to_markdown(index=False, floatfmt=".3f"))
    if args.plot:
        print(f"\n## Frontier ({args.plot})\n")
        print(plot_frontier(curves, passage_rates, args.plot).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
