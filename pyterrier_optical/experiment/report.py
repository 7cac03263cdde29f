"""Writing an experiment's report: Markdown tables, CSVs and matplotlib figures in one folder."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from .compare import Comparison

REPORT_FILE = "report.md"


def prepare_output(out, overwrite: bool = False) -> Path:
    """The report folder: refused if it holds a finished report (unless ``overwrite``, which empties it); a folder
    without one is an interrupted run, whose saved runs are reused."""
    out = Path(out)
    if (out / REPORT_FILE).exists():
        if not overwrite:
            raise ValueError(f"{out} already holds a report; choose another output folder or overwrite it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a Markdown table, numbers rounded."""
    def cell(v):
        if isinstance(v, bool):
            return "yes" if v else ""
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def results_table(comparison: Comparison, measure: str) -> pd.DataFrame:
    """Languages as rows, systems as columns: ``value`` with ``*`` when significantly different from the
    baseline (``+``/``-`` direction omitted: the delta tells it)."""
    means = comparison.means()
    means = means[means["measure"] == measure]
    cells = means.apply(lambda r: f"{r['value']:.3f}" + ("*" if r["significant"] else ""), axis=1)
    wide = means.assign(cell=cells).pivot(index=["lang", "resource"], columns="system", values="cell")
    order = list(dict.fromkeys(means["system"]))
    return wide[order].reset_index().sort_values(["resource", "lang"], ascending=[False, True])


def plot_sweep(sweep: Comparison, measure: str, path) -> Path:
    """Line plot of ``measure`` against the code-switch ratio, one panel per resource level, a line per system
    (macro mean over the panel's languages)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = sweep.means()
    data = data[data["measure"] == measure]
    levels = [lvl for lvl in ("low", "high") if lvl in set(data["resource"])]
    fig, axes = plt.subplots(1, len(levels), figsize=(5.5 * len(levels), 4), sharey=True, squeeze=False)
    for ax, level in zip(axes[0], levels):
        group = data[data["resource"] == level].groupby(["system", "ratio"], sort=False)["value"].mean()
        for system in dict.fromkeys(data["system"]):
            line = group[system]
            ax.plot(line.index, line.values, marker="o", label=system)
        langs = ", ".join(sorted(data[data["resource"] == level]["lang"].unique()))
        ax.set(title=f"{level}-resource ({langs})", xlabel="code-switch ratio p (query words switched to English)",
               ylabel=measure)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_languages(comparison: Comparison, measure: str, path) -> Path:
    """Grouped bars: ``measure`` per language (low-resource first) and system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = comparison.means()
    data = data[data["measure"] == measure]
    wide = data.pivot(index="lang", columns="system", values="value")[list(dict.fromkeys(data["system"]))]
    order = data.drop_duplicates("lang").sort_values("resource", ascending=False, kind="stable")["lang"]
    ax = wide.loc[order].plot.bar(figsize=(9, 4), rot=0, width=0.8)
    ax.set(ylabel=measure, xlabel="query language (low-resource first)")
    ax.legend(fontsize=8, ncol=2)
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
    plt.close(ax.figure)
    return Path(path)


def write_report(out, sections, measure: str, sweep: Comparison | None = None, title: str = "Experiment",
                 notes=()) -> Path:
    """Write ``report.md`` with one part per ``(heading, comparison, gap or None)`` of ``sections`` and the
    code-switch ``sweep``, with their CSVs (``results-<i>.csv``, ``per_query-<i>.csv``, ``gap-<i>.csv``,
    ``sweep.csv``) and figures into ``out``; returns the report's path."""
    out = Path(out)
    lines = [f"# {title}", "", *notes, ""]
    for i, (heading, comparison, gap) in enumerate(sections, 1):
        comparison.table.to_csv(out / f"results-{i}.csv", index=False)
        comparison.per_query.to_csv(out / f"per_query-{i}.csv", index=False)
        plot_languages(comparison, measure, out / f"languages-{i}.png")
        lines += [f"## {heading}", "", f"{measure} per language. `*`: significantly different from "
                  f"**{comparison.baseline}** after correction (paired t-test; all tests in `results-{i}.csv`).", "",
                  markdown_table(results_table(comparison, measure)), "", f"![{heading}](languages-{i}.png)", ""]
        if gap is not None:
            gap.to_csv(out / f"gap-{i}.csv", index=False)
            lines += ["High/low-resource gap: `closed` is the share of the baseline's gap a system closes; "
                      "`reduction` has a 95% bootstrap interval over queries.", "",
                      markdown_table(gap.drop(columns="measure")), ""]
    if sweep is not None:
        sweep.table.to_csv(out / "sweep.csv", index=False)
        plot_sweep(sweep, measure, out / "sweep.png")
        means = sweep.means()
        means = means[means["measure"] == measure]
        wide = means.groupby(["resource", "system", "ratio"], sort=False)["value"].mean().unstack("ratio")
        lines += ["## Code-switched queries", "", f"{measure}, macro mean per resource level; p = share of the "
                  "query words the lexicon knows that are switched to English.", "",
                  markdown_table(wide.reset_index().rename(columns=lambda c: f"p={c:g}" if isinstance(c, float)
                                                           else c)), "", "![code-switch sweep](sweep.png)", ""]
    path = out / REPORT_FILE
    path.write_text("\n".join(lines))
    return path
