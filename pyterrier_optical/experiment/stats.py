"""The statistics of a comparison: paired tests, multiple-testing corrections (statsmodels), the significance table
and bootstrap resampling over queries."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..data.languages import LANGUAGES

BOOTSTRAP_SAMPLES = 1000  # resamples of every bootstrap interval of the package

TESTS = ("t", "wilcoxon")
CORRECTIONS = ("bonferroni", "holm")


def check_tests(tests) -> tuple:
    """``tests`` as a tuple of known test names (one name alone, such as ``"wilcoxon"``, is a tuple of one)."""
    tests = (tests,) if isinstance(tests, str) else tuple(tests)
    for test in tests:
        if test not in TESTS:
            raise ValueError(f"unknown test {test!r}; choose from {TESTS}")
    return tests


def check_correction(method: str | None) -> str | None:
    """``method`` when it is a known correction or None; a ValueError naming the known ones otherwise."""
    if method is not None and method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; choose from {CORRECTIONS} or None")
    return method


def paired_p(a: np.ndarray, b: np.ndarray, test: str) -> float:
    """Two-sided p-value of a paired test of ``a`` against ``b`` (1.0 when they never differ)."""
    if np.allclose(a, b):
        return 1.0
    if test == "t":
        return float(stats.ttest_rel(a, b).pvalue)
    if test == "wilcoxon":
        return float(stats.wilcoxon(a, b).pvalue)
    raise ValueError(f"unknown test {test!r}; choose from {TESTS}")


def correct(p_values, method: str | None) -> np.ndarray:
    """p-values corrected for multiple testing (``bonferroni``, ``holm`` or None)."""
    p = np.asarray(p_values, dtype=float)
    if check_correction(method) is None or not len(p):
        return p
    from statsmodels.stats.multitest import multipletests

    return multipletests(p, method=method)[1]


def bonferroni(p: float, tests: int) -> float:
    """``p`` corrected by Bonferroni as one of a family of ``tests`` tests (at least one)."""
    return float(correct([p] * max(tests, 1), "bonferroni")[0])


def bonferroni_alpha(alpha: float, tests: int) -> float:
    """The level each of ``tests`` tests (at least one) is held to for the family to keep ``alpha`` (Bonferroni)."""
    from statsmodels.stats.multitest import multipletests

    return float(multipletests([1.0] * max(tests, 1), alpha=alpha, method="bonferroni")[3])


def _test_rows(lang: str, measure: str, values: pd.DataFrame, baseline: str | None, test: str | None) -> list:
    """The rows of one (language, measure, test): each system's mean and, against ``baseline``, its delta and
    p-value."""
    base = values[baseline].to_numpy() if baseline else None
    rows = []
    for system in values.columns:
        v = values[system].to_numpy()
        row = {"lang": lang, "resource": LANGUAGES[lang].resource, "system": system, "measure": measure,
               "value": v.mean(), "queries": len(v), "test": test}
        if baseline:
            row["delta"] = v.mean() - base.mean()
            row["rel_delta"] = row["delta"] / base.mean() if base.mean() else np.nan
            row["p"] = np.nan if system == baseline else paired_p(v, base, test)
        rows.append(row)
    return rows


def _mark_significant(rows: list, baseline: str, correction: str | None) -> None:
    """Correct the p-values of ``rows`` (one family: the systems against ``baseline``) and mark the significant."""
    family = [row for row in rows if row["system"] != baseline]
    if not family:
        return
    for row, corrected in zip(family, correct([row["p"] for row in family], correction)):
        row["p_corrected"] = corrected
        row["significant"] = bool(corrected < 0.05)


def significance_table(per_query: pd.DataFrame, baseline: str | None, tests=TESTS,
                       correction: str | None = "holm") -> pd.DataFrame:
    """The tidy table of :class:`~pyterrier_optical.experiment.compare.Comparison` from per-query values: one row
    per (language, system, measure, test), corrected per (language, measure, test) over the systems."""
    tests = check_tests(tests)
    rows = []
    for (lang, measure), frame in per_query.groupby(["lang", "measure"], sort=False):
        values = frame.pivot(index="qid", columns="system", values="value")[list(dict.fromkeys(frame["system"]))]
        for test in (tests if baseline else [None]):
            family = _test_rows(lang, measure, values, baseline, test)
            if baseline:
                _mark_significant(family, baseline, correction)
            rows += family
    table = pd.DataFrame(rows)
    for column in ("delta", "rel_delta", "p", "p_corrected"):
        if column not in table:
            table[column] = np.nan
    if "significant" not in table:
        table["significant"] = False
    table["significant"] = table["significant"].fillna(False).astype(bool)
    return table


def language_bootstrap(per_query: pd.DataFrame, systems: list, langs: list, n_boot: int = BOOTSTRAP_SAMPLES,
                       seed: int = 0) -> tuple:
    """Per language, the mean of each system (``point[lang]``, shape (systems,)) and ``n_boot`` bootstrap replicates
    of it (``boot[lang]``, shape (n_boot, systems)): queries resampled within the language, the same resample for
    every system, one generator seeded with ``seed`` drawn in the order of ``langs``."""
    rng = np.random.default_rng(seed)
    point, boot = {}, {}
    for lang in langs:
        matrix = per_query[per_query["lang"] == lang].pivot(index="qid", columns="system", values="value")[systems]
        matrix = matrix.to_numpy()
        point[lang] = matrix.mean(0)
        boot[lang] = matrix[rng.integers(0, len(matrix), size=(n_boot, len(matrix)))].mean(1)
    return point, boot


def macro_bootstrap(per_query: pd.DataFrame, systems, langs, n_boot: int = BOOTSTRAP_SAMPLES, seed: int = 0
                    ) -> np.ndarray:
    """Bootstrap replicates (n_boot, systems) of the macro mean over ``langs`` (:func:`language_bootstrap`)."""
    return np.mean(list(language_bootstrap(per_query, list(systems), list(langs), n_boot, seed)[1].values()), axis=0)


def bootstrap_interval(values: np.ndarray, n_boot: int = BOOTSTRAP_SAMPLES, seed: int = 0, alpha: float = 0.05
                       ) -> tuple:
    """The ``1 - alpha`` bootstrap interval of the mean of ``values`` (queries resampled)."""
    values = np.asarray(values, dtype=float)
    if not len(values):
        return np.nan, np.nan
    means = values[np.random.default_rng(seed).integers(0, len(values), (n_boot, len(values)))].mean(1)
    return tuple(np.quantile(means, [alpha / 2, 1 - alpha / 2]))


def resource_gap(per_query: pd.DataFrame, baseline: str, n_boot: int = BOOTSTRAP_SAMPLES, seed: int = 0,
                 alpha: float = 0.05) -> pd.DataFrame:
    """The high/low-resource gap of each system of ``per_query`` (one measure) and how much of the baseline's gap
    it closes, with bootstrap intervals (see :meth:`~pyterrier_optical.experiment.compare.Comparison.gap`)."""
    systems = list(dict.fromkeys(per_query["system"]))
    groups = {lang: LANGUAGES[lang].resource for lang in per_query["lang"].unique()}
    if set(groups.values()) != {"high", "low"}:
        raise ValueError(f"a gap needs high- and low-resource languages; got {groups}")
    point, boot = language_bootstrap(per_query, systems, list(groups), n_boot, seed)

    def gaps(per_lang):
        high = np.mean([per_lang[lang] for lang, g in groups.items() if g == "high"], axis=0)
        low = np.mean([per_lang[lang] for lang, g in groups.items() if g == "low"], axis=0)
        return high, low, high - low

    high, low, gap = gaps(point)
    boot_gap = gaps(boot)[2]
    b = systems.index(baseline)
    lo, hi = np.quantile(boot_gap[..., b:b + 1] - boot_gap, [alpha / 2, 1 - alpha / 2], axis=0)
    gap_lo, gap_hi = np.quantile(boot_gap, [alpha / 2, 1 - alpha / 2], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        closed = (gap[b] - gap) / gap[b] if gap[b] else np.full(len(systems), np.nan)
    return pd.DataFrame({"system": systems, "high": high, "low": low, "gap": gap,
                         "gap_ci_low": gap_lo, "gap_ci_high": gap_hi,
                         "rel_gap": gap / np.where(high == 0, np.nan, high), "closed": closed,
                         "reduction": gap[b] - gap, "ci_low": lo, "ci_high": hi,
                         "significant": (lo > 0) | (hi < 0)})


def queries_needed(mean: float, sd: float, alpha: float, most: int = 100_000) -> float:
    """The fewest queries at which per-query differences of this ``mean`` and ``sd`` make a two-sided paired t-test
    significant at ``alpha`` (inf when the mean is not above 0, or beyond ``most``)."""
    if not mean > 0:
        return np.inf
    if sd == 0:
        return 2.0
    n = np.arange(2, most + 1)
    reached = np.flatnonzero(mean / sd * np.sqrt(n) >= stats.t.ppf(1 - alpha / 2, n - 1))
    return float(n[reached[0]]) if len(reached) else np.inf
