"""Writing an experiment's report: Markdown tables, CSVs and matplotlib figures in one folder."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.languages import LANGUAGES
from ..util.io import CLAIM_FILE, Marker, check_replaceable, claim_folder
from ..util.measures import parse_measure
from .compare import Comparison
from .stats import (BOOTSTRAP_SAMPLES, bonferroni, bonferroni_alpha, bootstrap_interval, macro_bootstrap, paired_p,
                    queries_needed)

REPORT_FILE = "report.md"
# what the demo writes beside a report (experiment.demo takes these names from here)
HEADLINE_FILE, INDEXES_DIR, DENSE_DIR, CACHE_DIR = "headline.md", "indexes", "dense", "cache"
FUSION_DEV_CSV, SETTINGS_JSON = "fusion_dev-{}.csv", "settings-{}.json"  # per test source
# a finished report folder, by the exact list of what the demo and write_report put there (report.md and the saved
# runs it came from, at least): overwrite empties only such a folder, never one holding anything else
REPORT_FOLDER = Marker(REPORT_FILE, files=(REPORT_FILE, "runs"), optional=(
    CLAIM_FILE, HEADLINE_FILE, "results-*.csv", "per_query-*.csv", "languages-*.png", "gap-*.csv", "ceiling-*.csv",
    "share-*.csv", "sweep.csv", "sweep.png", FUSION_DEV_CSV.format("*"), SETTINGS_JSON.format("*"), INDEXES_DIR,
    DENSE_DIR, CACHE_DIR))


def prepare_output(out, overwrite: bool = False) -> Path:
    """The report folder: refused if it holds a finished report (unless ``overwrite``, which empties it: only a
    folder holding nothing but what a report folder holds, :data:`REPORT_FOLDER`); a folder this package claimed
    for a report (:func:`~pyterrier_optical.util.io.claim_folder`) without one is an interrupted run, whose saved
    runs are reused; any other folder that is not empty is refused, naming it."""
    out = Path(out)
    if (out / REPORT_FILE).exists():
        if not overwrite:
            raise ValueError(f"{out} already holds a report; choose another output folder or overwrite it")
        check_replaceable(out, (REPORT_FOLDER,), "report folder")
        shutil.rmtree(out)
    return claim_folder(out, "report folder")


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






def distillation_share(comparison: Comparison, dense: str, control: str, optical: str, measure: str) -> pd.DataFrame:
    """Per language: the gain of the OPTICAL fusion over the dense model (with its 95% bootstrap interval), the part
    of it that distillation brings (OPTICAL fusion minus the same fusion with the teacher), and its share of the
    gain — printed only where the gain is clearly above 0 (its interval excludes 0) — with the paired t-test p of
    OPTICAL against the control."""
    pq = comparison.per_query[comparison.per_query["measure"] == measure]
    rows = []
    for lang, frame in pq.groupby("lang", sort=False):
        wide = frame.pivot(index="qid", columns="system", values="value")
        m, c, o = (wide[s].mean() for s in (dense, control, optical))
        gain, distilled = o - m, o - c
        low, high = bootstrap_interval((wide[optical] - wide[dense]).to_numpy())
        rows.append({"lang": lang, dense: m, control: c, optical: o, "gain": gain, "gain_ci_low": low,
                     "gain_ci_high": high, "from distillation": distilled,
                     "share": distilled / gain if low > 0 else np.nan,
                     "p (OPTICAL vs control)": paired_p(wide[optical].to_numpy(), wide[control].to_numpy(), "t")})
    return pd.DataFrame(rows)


def detectable_difference(comparison: Comparison, measure: str, power: float = 0.8, alpha: float = 0.05) -> dict:
    """The smallest difference to the baseline a paired t-test detects with ``power`` at ``alpha``, before and after
    Bonferroni over the systems, from the median per-language standard deviation of the per-query differences and
    the median number of queries (normal approximation)."""
    from scipy.stats import norm

    pq = comparison.per_query[comparison.per_query["measure"] == measure]
    sds, sizes = [], []
    for _, frame in pq.groupby("lang"):
        wide = frame.pivot(index="qid", columns="system", values="value")
        others = [s for s in wide.columns if s != comparison.baseline]
        sds += [float((wide[s] - wide[comparison.baseline]).std()) for s in others]
        sizes.append(len(wide))
        tests = len(others)
    sd, n = float(np.median(sds)), float(np.median(sizes))
    z_power = norm.ppf(power)
    return {"queries": int(n), "sd": sd, "raw": (norm.ppf(1 - alpha / 2) + z_power) * sd / np.sqrt(n),
            "corrected": (norm.ppf(1 - bonferroni_alpha(alpha / 2, tests)) + z_power) * sd / np.sqrt(n), "tests": tests}




def reranking_ceiling(comparison: Comparison, measure: str = "RR@10", recall: str = "R@100",
                      alpha: float = 0.05) -> pd.DataFrame:
    """Per language, the most that reranking or fusing the baseline's top documents could reach on ``measure`` (a
    reciprocal rank): the relevant document first wherever the baseline retrieved one (``recall`` > 0), the
    baseline's own value elsewhere. Its paired t-test against the baseline is Bonferroni-corrected over the
    comparison's other systems, as the report's tests are: where even the ceiling is not significant, no pipeline
    built on the baseline's candidates can be with these queries. ``queries needed`` is how many queries with the
    same per-query differences would make the ceiling significant."""
    if not measure.startswith("RR"):
        raise ValueError(f"the reranking ceiling is defined for a reciprocal rank (RR@k), not {measure}")
    pq = comparison.per_query
    missing = {measure, recall} - set(pq["measure"])
    if missing:
        raise ValueError(f"the reranking ceiling needs {sorted(missing)}, which the comparison did not compute")
    rows = []
    for lang, frame in pq[pq["system"] == comparison.baseline].groupby("lang", sort=False):
        wide = frame.pivot(index="qid", columns="measure", values="value")
        base = wide[measure].to_numpy()
        ceiling = np.where(wide[recall].to_numpy() > 0, 1.0, base)
        tests = pq[pq["lang"] == lang]["system"].nunique() - 1
        diff = ceiling - base
        needed = queries_needed(diff.mean(), diff.std(ddof=1), bonferroni_alpha(alpha, tests))
        rows.append({"lang": lang, "resource": LANGUAGES[lang].resource, comparison.baseline: base.mean(),
                     "ceiling": ceiling.mean(), "headroom": diff.mean(), "queries": len(base),
                     "p_corrected": bonferroni(paired_p(ceiling, base, "t"), tests),
                     "queries needed": int(needed) if np.isfinite(needed) else "never"})
    table = pd.DataFrame(rows)
    return table.assign(reachable=table["p_corrected"] < alpha)


def gap_rows(gap: pd.DataFrame, baseline: str) -> tuple:
    """The gap table as printed, and a note: ``closed`` is shown only where the baseline's gap is clearly above 0
    (its bootstrap interval excludes 0); otherwise there is no gap to close and the column says so."""
    base = gap[gap["system"] == baseline].iloc[0]
    shown = gap.drop(columns="measure").copy()
    if base["gap_ci_low"] > 0:
        return shown, ""
    shown["closed"] = "no gap"
    return shown, (f"The baseline's gap ({base['gap']:.3f}, 95% interval [{base['gap_ci_low']:.3f}, "
                   f"{base['gap_ci_high']:.3f}]) is not clearly above 0: there is no gap to close here, so no share "
                   "closed is printed.")


def _legend_outside(ax, fig) -> None:
    """The legend to the right of the axes, never over the data."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()


def sweep_curves(sweep: Comparison, measure: str, n_boot: int = BOOTSTRAP_SAMPLES) -> tuple:
    """``(ratios, curves, resource)`` of a sweep: per panel (``low``, ``high``, and ``gap`` when both levels are
    there) and system, ``(value, ci_low, ci_high)`` at each ratio, macro means over each level's languages with
    95% bootstrap intervals; ``resource`` is each language's level."""
    pq = sweep.per_query[sweep.per_query["measure"] == measure]
    systems = list(dict.fromkeys(pq["system"]))
    resource = {lang: LANGUAGES[lang].resource for lang in pq["lang"].unique()}
    levels = [lvl for lvl in ("low", "high") if lvl in resource.values()]
    panels = levels + (["gap"] if len(levels) == 2 else [])
    ratios = sorted(pq["ratio"].unique())
    curves = {panel: {s: [] for s in systems} for panel in panels}
    for ratio in ratios:
        at = pq[pq["ratio"] == ratio]
        boots = {lvl: macro_bootstrap(at, systems, [lang for lang, r in resource.items() if r == lvl], n_boot)
                 for lvl in levels}
        points = {lvl: np.array([at[(at["system"] == s) & at["lang"].map(resource).eq(lvl)]
                                 .groupby("lang")["value"].mean().mean() for s in systems]) for lvl in levels}
        if "gap" in panels:
            boots["gap"], points["gap"] = boots["high"] - boots["low"], points["high"] - points["low"]
        for panel in panels:
            lo, hi = np.quantile(boots[panel], [0.025, 0.975], axis=0)
            for i, system in enumerate(systems):
                curves[panel][system].append((points[panel][i], lo[i], hi[i]))
    return ratios, curves, resource


def plot_sweep(sweep: Comparison, measure: str, path, n_boot: int = BOOTSTRAP_SAMPLES) -> Path:
    """Three panels against the code-switch ratio, one line per system with its 95% bootstrap band: ``measure`` on
    the low- and on the high-resource languages (macro means), and the high−low gap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios, curves, resource = sweep_curves(sweep, measure, n_boot)
    fig, axes = plt.subplots(1, len(curves), figsize=(4.6 * len(curves) + 2.4, 4), squeeze=False)
    for ax, (panel, per_system) in zip(axes[0], curves.items()):
        for system, points in per_system.items():
            value, lo, hi = np.array(points).T
            line, = ax.plot(ratios, value, marker="o", label=system)
            ax.fill_between(ratios, lo, hi, color=line.get_color(), alpha=0.12)
        if panel == "gap":
            ax.axhline(0, color="grey", lw=0.8)
            ax.set(title="high − low gap", ylabel=f"{measure} gap")
        else:
            langs = ", ".join(sorted(lang for lang, r in resource.items() if r == panel))
            ax.set(title=f"{panel}-resource ({langs})", ylabel=measure)
        ax.set(xlabel="code-switch ratio p")
        ax.grid(alpha=0.3)
    _legend_outside(axes[0][-1], fig)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_languages(comparison: Comparison, measure: str, path, n_boot: int = BOOTSTRAP_SAMPLES) -> Path:
    """Grouped bars: ``measure`` per language (low-resource first) and system, with 95% bootstrap error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pq = comparison.per_query[comparison.per_query["measure"] == measure]
    systems = list(dict.fromkeys(pq["system"]))
    langs = sorted(pq["lang"].unique(), key=lambda lang: (LANGUAGES[lang].resource != "low", lang))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.18 * len(langs) * len(systems)) + 3, 4))
    width = 0.8 / len(systems)
    for i, system in enumerate(systems):
        values, errors = [], []
        for lang in langs:
            v = pq[(pq["lang"] == lang) & (pq["system"] == system)]["value"].to_numpy()
            lo, hi = bootstrap_interval(v, n_boot)
            values.append(v.mean())
            errors.append((v.mean() - lo, hi - v.mean()))
        ax.bar(np.arange(len(langs)) + (i - (len(systems) - 1) / 2) * width, values, width, label=system,
               yerr=np.array(errors).T, capsize=1.5, error_kw={"lw": 0.7})
    ax.set_xticks(np.arange(len(langs)), langs)
    ax.set(ylabel=f"{measure} (95% bootstrap intervals)", xlabel="query language (low-resource first)")
    ax.grid(alpha=0.3, axis="y")
    _legend_outside(ax, fig)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


@dataclass
class Section:
    """One part of a report: a comparison, and optionally its gap table, its reranking ceiling
    (:func:`reranking_ceiling`) and its table of the share of the gain that distillation brings."""

    heading: str
    comparison: Comparison
    gap: pd.DataFrame | None = None
    share: pd.DataFrame | None = None
    ceiling: pd.DataFrame | None = None


def _comparison_lines(out: Path, i: int, section: Section, measure: str) -> list:
    """The ``i``-th section's results table and figure (written beside the report with its CSVs)."""
    comparison = section.comparison
    comparison.table.to_csv(out / f"results-{i}.csv", index=False)
    comparison.per_query.to_csv(out / f"per_query-{i}.csv", index=False)
    plot_languages(comparison, measure, out / f"languages-{i}.png")
    return [f"## {section.heading}", "", f"{measure} per language. `*`: significantly different from "
            f"**{comparison.baseline}** after correction (paired t-test; all tests in `results-{i}.csv`).", "",
            markdown_table(results_table(comparison, measure)), "", f"![{section.heading}](languages-{i}.png)", ""]


def _gap_lines(out: Path, i: int, section: Section, measure: str) -> list:
    section.gap.to_csv(out / f"gap-{i}.csv", index=False)
    shown, note = gap_rows(section.gap, section.comparison.baseline)
    return ["High/low-resource gap (macro means): `gap` with its 95% bootstrap interval over queries; `closed` is "
            "the share of the baseline's gap a system closes; `reduction` has a 95% bootstrap interval.", "",
            markdown_table(shown), ""] + ([note, ""] if note else [])


def _ceiling_lines(out: Path, i: int, section: Section, measure: str) -> list:
    section.ceiling.to_csv(out / f"ceiling-{i}.csv", index=False)
    return [f"Reranking ceiling: `ceiling` is {measure} with the relevant document put first wherever "
            f"{section.comparison.baseline} retrieved it (no reranker or fusion of its candidates can do better); "
            "`p_corrected` tests it against the baseline as the systems are tested; where `reachable` is empty no "
            "pipeline on these candidates can be significantly better with these queries; `queries needed` would "
            "make the ceiling itself significant.", "", markdown_table(section.ceiling), ""]


def _share_lines(out: Path, i: int, section: Section, measure: str) -> list:
    section.share.to_csv(out / f"share-{i}.csv", index=False)
    return ["What distillation brings: `gain` is the OPTICAL fusion over mE5 alone, `from distillation` the OPTICAL "
            "fusion over the same fusion with the teacher, `share` their ratio (printed only where the gain's 95% "
            "bootstrap interval excludes 0).", "", markdown_table(section.share), ""]


def _sweep_lines(out: Path, sweep: Comparison, measure: str) -> list:
    """The code-switch sweep's table and figure (written beside the report with its CSV)."""
    sweep.table.to_csv(out / "sweep.csv", index=False)
    plot_sweep(sweep, measure, out / "sweep.png")
    means = sweep.means()
    means = means[means["measure"] == measure]
    wide = means.groupby(["resource", "system", "ratio"], sort=False)["value"].mean().unstack("ratio")
    wide = wide.reset_index().rename(columns=lambda c: f"p={c:g}" if isinstance(c, float) else c)
    return ["## Code-switched queries", "", f"{measure}, macro mean per resource level; p = share of the query words "
            "the lexicon knows that are switched to English. The figure adds 95% bootstrap bands and the high−low "
            "gap against p.", "", markdown_table(wide), "", "![code-switch sweep](sweep.png)", ""]


def write_report(out, sections, measure: str, sweep: Comparison | None = None, title: str = "Experiment",
                 notes=()) -> Path:
    """Write ``report.md`` with one part per :class:`Section` and the code-switch ``sweep``, with their CSVs
    (``results-<i>.csv``, ``per_query-<i>.csv``, ``gap-<i>.csv``, ``ceiling-<i>.csv``, ``share-<i>.csv``,
    ``sweep.csv``) and figures into ``out``; returns the report's path. ``out`` is prepared as
    :func:`prepare_output` does (a folder holding a finished report, or anyone else's files, is refused), and
    ``measure`` must be one every section compared, both checked before anything is written."""
    measure = str(parse_measure(measure))
    for section in sections:
        compared = set(section.comparison.table["measure"])
        if measure not in compared:
            raise ValueError(f"measure {measure!r} is not one that section {section.heading!r} compared "
                             f"({', '.join(sorted(compared))})")
    out = prepare_output(out)
    lines = [f"# {title}", "", *notes, ""]
    for i, section in enumerate(sections, 1):
        lines += _comparison_lines(out, i, section, measure)
        for part, write in (("gap", _gap_lines), ("ceiling", _ceiling_lines), ("share", _share_lines)):
            if getattr(section, part) is not None:
                lines += write(out, i, section, measure)
    if sweep is not None:
        lines += _sweep_lines(out, sweep, measure)
    path = out / REPORT_FILE
    path.write_text("\n".join(lines))
    return path
