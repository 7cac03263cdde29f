"""Does a demo run print the README's headline? Compares the RR@10 tables of a run's ``headline.md`` (in domain,
then out of domain) with the two tables under the README's "What the demo finds", cell by cell, and fails when one
differs by more than the tolerance (default .01: the spread of the bf16/fp32 numeric paths that the README states).
``benchmarks/first_run.sh`` runs it on the fresh clone's report; run it on every kind of CPU you can reach.

    python benchmarks/check_headline.py runs/demo [--readme README.md] [--tolerance 0.01] [--columns 1 2 3]

``--columns`` limits the comparison to some columns (1 = the first number column): ``optical demo --full`` tunes the
rerank depth on dev, so its fusion column is not the README's (depth 10) and ``first_run.sh --full`` leaves it out.
"""
import argparse
import re
import sys
from pathlib import Path

SECTION = "## What the demo finds"
COLUMNS = "columns"


def tables(text: str) -> list:
    """The markdown tables of ``text``, each as {row label: [cell values]} (stars and bold dropped; None where a
    cell holds no number) with its column names under ``COLUMNS``."""
    found, rows = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            rows = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if rows is None:
            rows = {COLUMNS: cells[1:]}
            found.append(rows)
        elif not set("".join(cells)) <= set("-: "):
            number = [re.sub(r"[*\s]", "", c) for c in cells[1:]]
            rows[cells[0]] = [float(n) if re.fullmatch(r"-?\d*\.\d+", n) else None for n in number]
    return found


def compare(run: dict, readme: dict, tolerance: float, columns=None) -> tuple:
    """Lines naming every cell outside the tolerance (among ``columns``, 1-based; all when None), or a row one side
    lacks; and the largest difference."""
    problems = [] if run[COLUMNS] == readme[COLUMNS] else [f"columns: run {run[COLUMNS]}, README {readme[COLUMNS]}"]
    largest = 0.0
    for lang in sorted((set(run) | set(readme)) - {COLUMNS}):
        if lang not in run or lang not in readme:
            problems.append(f"{lang}: only in the {'run' if lang in run else 'README'}")
            continue
        for column, (ours, theirs) in enumerate(zip(run[lang], readme[lang]), 1):
            if ours is None or theirs is None or (columns and column not in columns):
                continue
            difference = round(abs(ours - theirs), 3)  # both are printed to three decimals: .871 - .861 is .010
            largest = max(largest, difference)
            if difference > tolerance:
                problems.append(f"{lang}, column {column}: run {ours:.3f}, README {theirs:.3f}")
    return problems, largest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the demo's report folder (it holds headline.md)")
    parser.add_argument("--readme", type=Path, default=Path(__file__).resolve().parent.parent / "README.md")
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--columns", type=int, nargs="+", help="compare only these columns (1-based; default all)")
    args = parser.parse_args()
    readme = args.readme.read_text()
    if SECTION not in readme:
        sys.exit(f"{args.readme} has no '{SECTION}' section")
    expected = tables(readme.split(SECTION, 1)[1].split("\n## ", 1)[0])
    got = tables((args.run / "headline.md").read_text())
    if len(got) != len(expected):
        sys.exit(f"the run has {len(got)} headline tables, the README {len(expected)}")
    failed = False
    for label, run, readme_table in zip(("in domain", "out of domain"), got, expected):
        problems, largest = compare(run, readme_table, args.tolerance, args.columns)
        which = f", columns {' '.join(map(str, args.columns))}" if args.columns else ""
        print(f"{label}: {len(run) - 1} languages{which}, largest difference {largest:.3f} "
              f"(tolerance {args.tolerance:.3f})")
        for problem in problems:
            print("  " + problem)
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
