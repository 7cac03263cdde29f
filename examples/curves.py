"""Learning curves of distillation runs (``optical distill ... --curve-every 200``): dev RR@10 on the Kolibri dev
splits, mE5's top 20 reranked by the student alone and fused with mE5, low- and high-resource means against the step,
one line per run, mE5 alone dashed. Prints the table and writes the figure.

    python examples/curves.py RUN [RUN ...] [--out docs/curves.png]
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pyterrier_optical.train.curve import read_curve  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", default="docs/curves.png")
    args = parser.parse_args()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for i, run in enumerate(args.runs):
        records = read_curve(run)
        if not records:
            raise SystemExit(f"{run} has no learning curve (no curve.jsonl): run optical distill with --curve-every N")
        print(f"{run}:")
        print("| step | low alone | low fused | high alone | high fused | " +
              " | ".join(f"{lang} alone" for lang in records[0]["alone"]) + " |")
        for r in records:
            print(f"| {r['step']} | {r['low_alone']:.3f} | {r['low_fused']:.3f} | {r['high_alone']:.3f} | "
                  f"{r['high_fused']:.3f} | " + " | ".join(f"{v:.3f}" for v in r["alone"].values()) + " |")
        steps = [r["step"] for r in records]
        for ax, level in zip(axes, ("low", "high")):
            for kind, style in (("alone", "-o"), ("fused", ":s")):  # one colour per run
                ax.plot(steps, [r[f"{level}_{kind}"] for r in records], style, color=f"C{i % 10}",
                        label=f"{Path(run).name}, {kind}")
            if i == 0:
                ax.axhline(records[0][f"{level}_mE5"], linestyle="--", color="grey", label="mE5 alone")
            ax.set_title(f"{level}-resource languages, Kolibri dev")
            ax.set_xlabel("step")
    axes[0].set_ylabel("RR@10 (mE5 top 20)")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(args.out)


if __name__ == "__main__":
    main()
