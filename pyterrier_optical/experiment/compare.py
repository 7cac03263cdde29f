"""Compare pipelines across languages: paired significance tests with multiple-testing correction, the gap between
high- and low-resource languages, and code-switch sweeps.

Each language is one ``pt.Experiment`` (the prefix common to all systems, such as a first stage, runs once) whose runs
are saved in ``save_dir`` and reused: an interrupted comparison loses only the system it was running.
"""
from __future__ import annotations

import glob
import hashlib
import json
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import ir_measures
import numpy as np
import pandas as pd
import pyterrier as pt
from scipy import stats

from ..data.languages import LANGUAGES, language
from ..retrieve.codeswitch import CodeSwitch, check_ratio
from ..util.io import folder_lock, write_file_atomically

logger = logging.getLogger(__name__)
TESTS = ("t", "wilcoxon")
FINGERPRINTS = "fingerprints.json"
CORRECTIONS = ("bonferroni", "holm")


def parse_measures(measures) -> list:
    """ir_measures objects from objects or strings such as ``"RR@10"``; an unknown one raises ``ValueError``."""
    if isinstance(measures, (str, ir_measures.measures.BaseMeasure)):
        measures = [measures]
    parsed = []
    for m in measures:
        if isinstance(m, str):
            try:
                m = ir_measures.parse_measure(m)
            except (ValueError, NameError, SyntaxError, TypeError):
                raise ValueError(f"unknown measure {m!r}; use ir_measures names such as RR@10, nDCG@10, AP, R@100"
                                 ) from None
        parsed.append(m)
    if not parsed:
        raise ValueError("no measures given")
    return parsed


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
    if method is None or not len(p):
        return p
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; choose from {CORRECTIONS} or None")
    from statsmodels.stats.multitest import multipletests

    return multipletests(p, method=method)[1]


def _topics_and_qrels(name: str, data) -> tuple:
    """(topics, qrels) of a dataset given as a pair, an object with get_topics/get_qrels, or a dataset id."""
    if isinstance(data, str):
        data = pt.get_dataset(data if ":" in data else f"irds:{data}")
    if isinstance(data, tuple):
        topics, qrels = data
    else:
        topics, qrels = data.get_topics(), data.get_qrels()
    pt.validate.query_frame(topics, ["query"])
    missing = {"qid", "docno", "label"} - set(qrels.columns)
    if missing:
        raise ValueError(f"qrels of dataset {name!r} lack the column(s) {sorted(missing)}")
    for what, frame in (("topics", topics), ("qrels", qrels)):
        if frame["qid"].isna().any():
            rows = frame.index[frame["qid"].isna()].tolist()
            raise ValueError(f"{what} of dataset {name!r}: {len(rows)} row(s) without a qid (rows {rows[:5]})")
    topics = topics.assign(qid=topics["qid"].astype(str))  # 1 and "1" are the same query
    qrels = qrels.assign(qid=qrels["qid"].astype(str), docno=qrels["docno"].astype(str))
    topics = topics.drop_duplicates(["qid", "query"])
    repeated = topics[topics["qid"].duplicated(keep=False)]
    if len(repeated):
        qid = repeated["qid"].iloc[0]
        texts = repeated[repeated["qid"] == qid]["query"].tolist()[:2]
        raise ValueError(f"topics of dataset {name!r}: qid {qid!r} is given to different queries ({texts[0]!r} and "
                         f"{texts[1]!r}; {repeated['qid'].nunique()} such qids): qids must be unique")
    qrels = qrels.drop_duplicates(["qid", "docno", "label"])
    conflicting = qrels[qrels.duplicated(["qid", "docno"], keep=False)]
    if len(conflicting):
        first = conflicting.iloc[0]
        labels = conflicting[(conflicting["qid"] == first["qid"]) & (conflicting["docno"] == first["docno"])]
        raise ValueError(f"qrels of dataset {name!r}: query {first['qid']!r} and document {first['docno']!r} have "
                         f"the labels {sorted(labels['label'].tolist())} ({len(conflicting)} such rows): keep one")
    common = set(topics["qid"]) & set(qrels["qid"])
    if not common:
        raise ValueError(f"dataset {name!r}: no query has both a topic and relevance judgements")
    return topics[topics["qid"].isin(common)], qrels


_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _code_parts(code) -> list:
    """What a code object computes: its bytecode, names and constants (nested functions included)."""
    parts = [code.co_code.hex(), code.co_names]
    for const in code.co_consts:
        parts.append(_code_parts(const) if hasattr(const, "co_code") else repr(const))
    return parts


def describe_system(pipeline) -> tuple:
    """``(description, why_not)``: what determines a system's run — each stage's repr (or, for a stage with the
    default repr, its type and attributes), the code and captured values of the functions inside ``pt.apply``
    stages, the content digest of the indexes they read — and, when some part cannot be described so (a function
    without readable code, an object with neither a repr nor plain attributes), why not (else None)."""
    parts, problems = [], []

    def value_parts(value, depth: int = 2):
        if isinstance(value, (str, bytes, int, float, bool, type(None), Path)):
            return repr(value)
        digest = getattr(value, "content_digest", None)
        if callable(digest):
            return [_ADDRESS.sub("", repr(value)), digest()]
        if type(value).__repr__ is not object.__repr__:
            return _ADDRESS.sub("", repr(value))
        if depth == 0 or not hasattr(value, "__dict__"):
            problems.append(f"{type(value).__name__} has no descriptive repr")
            return type(value).__qualname__
        visited = set(pt.inspect.subtransformers(value)) if isinstance(value, pt.Transformer) else set()
        transform = getattr(type(value), "transform", None)  # what a transformer of a user's class does
        code = _code_parts(transform.__code__) if hasattr(transform, "__code__") else None
        return [type(value).__module__, type(value).__qualname__, code,
                {k: value_parts(v, depth - 1) for k, v in sorted(vars(value).items())
                 if not k.startswith("_") and k not in visited}]

    def visit(transformer):
        parts.append(value_parts(transformer))
        fn = getattr(transformer, "fn", None)
        if callable(fn):
            code = getattr(fn, "__code__", None)
            if code is None:
                problems.append(f"the function of {transformer!r} has no readable code")
            else:
                parts.append(_code_parts(code))
                parts.extend(value_parts(cell.cell_contents) for cell in fn.__closure__ or ())
        for sub in pt.inspect.subtransformers(transformer).values():
            for child in sub if isinstance(sub, (list, tuple)) else [sub]:
                visit(child)

    visit(pipeline)
    return json.dumps(parts, default=str, ensure_ascii=False), "; ".join(dict.fromkeys(problems)) or None


def run_fingerprint(pipeline, topics: pd.DataFrame) -> str | None:
    """A digest of what determines a system's run (:func:`describe_system`) and of the topics it runs on (qids and
    query texts): a saved run is reused only under the same one. None when the system cannot be described."""
    description, why_not = describe_system(pipeline)
    if why_not:
        return None
    queries = sorted(zip(topics["qid"].astype(str), topics["query"].astype(str)))
    return hashlib.sha256(json.dumps([description, queries], ensure_ascii=False).encode()).hexdigest()[:16]


def read_fingerprints(file: Path) -> dict:
    """The saved fingerprints ({} when there are none, or when the file is damaged: then every run is redone)."""
    if not file.is_file():
        return {}
    try:
        saved = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(saved, dict):
            raise ValueError("not an object")
        return saved
    except (ValueError, UnicodeDecodeError) as e:
        logger.warning("%s is damaged (%s): every saved run beside it is redone", file, e)
        return {}


def forget_stale_runs(folder: Path, names, pipelines, topics: pd.DataFrame) -> None:
    """Delete the saved runs in ``folder`` that were made for other topics or by another pipeline of the same name,
    that carry no fingerprint, that are damaged, or whose system cannot be fingerprinted (saying why), and record
    the fingerprints of the runs about to be made."""
    file = folder / FINGERPRINTS
    saved = read_fingerprints(file)
    for name, pipeline in zip(names, pipelines):
        fingerprint = run_fingerprint(pipeline, topics)
        for run in folder.glob(f"{glob.escape(name)}.res.gz"):
            if fingerprint is None:
                logger.warning("%s: %r cannot be fingerprinted reliably (%s): rerunning it instead of reusing its "
                               "saved run", folder, name, describe_system(pipeline)[1])
            elif saved.get(name) != fingerprint:
                logger.info("%s: the saved run of %r was made for other topics or another pipeline: rerunning",
                            folder, name)
            elif not readable_run(run):
                logger.warning("%s is damaged: rerunning %r", run, name)
            else:
                continue
            run.unlink()
        saved[name] = fingerprint
    write_file_atomically(file, lambda f: f.write_text(json.dumps(saved, indent=1), encoding="utf-8"))


def readable_run(path: Path) -> bool:
    """True when the saved run at ``path`` reads whole."""
    try:
        pt.io.read_results(str(path))
    except Exception:  # a truncated gzip (EOFError), bad lines (ValueError), ...
        return False
    return True


def language_bootstrap(per_query: pd.DataFrame, systems: list, langs: list, n_boot: int = 1000, seed: int = 0
                       ) -> tuple:
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


@dataclass
class Comparison:
    """The result of :func:`compare`.

    Attributes:
        table: one row per (lang, system, measure, test): value, delta and relative delta against the baseline,
            p, corrected p, significant.
        per_query: one row per (lang, system, measure, qid) with the value, for further tests.
        baseline: the baseline's name (or None).
    """

    table: pd.DataFrame
    per_query: pd.DataFrame
    baseline: str | None

    def means(self, test: str | None = None) -> pd.DataFrame:
        """One row per (lang, system, measure), with the p-values of ``test`` (default: the first test run)."""
        run = self.table["test"].dropna().unique()
        rows = self.table[self.table["test"] == (test or run[0])] if len(run) else self.table
        return rows.reset_index(drop=True)

    def gap(self, measure, baseline: str | None = None, n_boot: int = 1000, seed: int = 0,
            alpha: float = 0.05) -> pd.DataFrame:
        """The high/low-resource gap of each system, and how much of the baseline's gap it closes.

        ``high``/``low`` are macro means over the languages of each resource level; ``gap = high - low``,
        ``rel_gap = gap / high``, ``closed = (gap_baseline - gap) / gap_baseline``; ``gap_ci_low``/``gap_ci_high``
        bound each gap (a baseline whose interval holds 0 has no gap to close). ``reduction`` is
        ``gap_baseline - gap`` with a ``1 - alpha`` bootstrap interval over queries (resampled within each language,
        the same resample for every system); ``significant`` when the interval excludes 0.
        """
        name = str(parse_measures(measure)[0])
        baseline = baseline or self.baseline
        if baseline is None:
            raise ValueError("a gap analysis needs a baseline system")
        data = self.per_query[self.per_query["measure"] == name]
        if data.empty:
            raise ValueError(f"measure {name} was not computed; computed: {sorted(self.per_query['measure'].unique())}")
        systems = list(dict.fromkeys(data["system"]))
        groups = {lang: LANGUAGES[lang].resource for lang in data["lang"].unique()}
        if set(groups.values()) != {"high", "low"}:
            raise ValueError(f"a gap needs high- and low-resource languages; got {groups}")
        point, boot = language_bootstrap(data, systems, list(groups), n_boot, seed)

        def gaps(per_lang):
            high = np.mean([per_lang[lang] for lang, g in groups.items() if g == "high"], axis=0)
            low = np.mean([per_lang[lang] for lang, g in groups.items() if g == "low"], axis=0)
            return high, low, high - low

        high, low, gap = gaps(point)
        boot_gap = gaps(boot)[2]
        b = systems.index(baseline)
        reduction = boot_gap[..., b:b + 1] - boot_gap
        lo, hi = np.quantile(reduction, [alpha / 2, 1 - alpha / 2], axis=0)
        gap_lo, gap_hi = np.quantile(boot_gap, [alpha / 2, 1 - alpha / 2], axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            closed = (gap[b] - gap) / gap[b] if gap[b] else np.full(len(systems), np.nan)
        return pd.DataFrame({"system": systems, "measure": name, "high": high, "low": low, "gap": gap,
                             "gap_ci_low": gap_lo, "gap_ci_high": gap_hi,
                             "rel_gap": gap / np.where(high == 0, np.nan, high), "closed": closed,
                             "reduction": gap[b] - gap, "ci_low": lo, "ci_high": hi,
                             "significant": (lo > 0) | (hi < 0)})


def compare(systems: dict, datasets: dict, measures, baseline: str | None = None, tests=TESTS,
            correction: str | None = "holm", save_dir=None, verbose: bool = False, batch_size: int | None = None
            ) -> Comparison:
    """Run ``systems`` (name -> pipeline, or name -> {language: pipeline} when a system differs per language, as
    with a first stage per collection) on ``datasets`` (language code -> dataset) and test them against
    ``baseline`` with each paired test in ``tests``, corrected per (language, measure, test) over the systems.

    A dataset is ``(topics, qrels)``, an object with ``get_topics()``/``get_qrels()``, or a dataset id. Queries
    without judgements are left out; a query a system returns nothing for scores 0. With ``save_dir`` each
    system's run is kept in ``save_dir/<lang>/`` and reused when the comparison is run again.
    """
    if not systems:
        raise ValueError("no systems to compare")
    if not datasets:
        raise ValueError("no datasets given")
    names = list(systems)
    if baseline is not None and baseline not in systems:
        raise ValueError(f"baseline {baseline!r} is not among the systems {names}")
    if correction is not None and baseline is None:
        raise ValueError(f"correction {correction!r} needs a baseline to compare against")
    if correction is not None and correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; choose from {CORRECTIONS} or None")
    tests = check_tests(tests)
    measures = parse_measures(measures)
    inputs = {}
    for lang, data in datasets.items():
        language(lang)
        inputs[lang] = _topics_and_qrels(lang, data)
    per_query = []
    for lang, (topics, qrels) in inputs.items():
        pipelines = []
        for name, system in systems.items():
            if isinstance(system, dict) and lang not in system:
                raise ValueError(f"system {name!r} has no pipeline for the language {lang!r}")
            pipelines.append(system[lang] if isinstance(system, dict) else system)
        kwargs = {"batch_size": batch_size} if batch_size else {}
        if save_dir is None:
            run = experiment(lang, pipelines, names, topics, qrels, measures, verbose, kwargs)
        else:
            folder = Path(save_dir) / lang
            folder.mkdir(parents=True, exist_ok=True)
            with folder_lock(folder, "comparing systems", wait=True):  # one comparison at a time per save_dir
                forget_stale_runs(folder, names, pipelines, topics)
                run = experiment(lang, pipelines, names, topics, qrels, measures, verbose,
                                 {**kwargs, "save_dir": str(folder), "save_mode": "reuse"})
        qids = topics["qid"].astype(str).unique()
        full = pd.MultiIndex.from_product([names, [str(m) for m in measures], qids], names=["name", "measure", "qid"])
        run = run.assign(qid=run["qid"].astype(str)).set_index(["name", "measure", "qid"])["value"]
        run = run.reindex(full, fill_value=0.0).reset_index()
        per_query.append(run.rename(columns={"name": "system"}).assign(lang=lang))
        logger.info("%s: %d systems on %d queries", lang, len(names), len(qids))
    per_query = pd.concat(per_query, ignore_index=True)[["lang", "system", "measure", "qid", "value"]]
    return Comparison(significance_table(per_query, baseline, tests, correction), per_query, baseline)


def experiment(lang: str, pipelines: list, names: list, topics, qrels, measures, verbose: bool, kwargs: dict
               ) -> pd.DataFrame:
    """Per-query ``pt.Experiment`` of ``pipelines`` (their common prefix run once). PyTerrier refuses a system
    that returns nothing at all; such a system is then run alone and scores 0 on every query, with a warning."""
    def run(systems, labels):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="precompute_prefix was True")
            return pt.Experiment(systems, topics, qrels, measures, names=labels, perquery=True,
                                 precompute_prefix=True, verbose=verbose, **kwargs)

    try:
        return run(pipelines, names)
    except ValueError as e:
        if "no results" not in str(e):
            raise
    runs = []
    for pipeline, name in zip(pipelines, names):
        try:
            runs.append(run([pipeline], [name]))
        except ValueError as e:
            if "no results" not in str(e):
                raise
            logger.warning("%s: %r returned nothing for any of the %d queries: it scores 0 on each",
                           lang, name, len(topics))
    return pd.concat(runs, ignore_index=True) if runs else pd.DataFrame(columns=["name", "measure", "qid", "value"])


def check_tests(tests) -> tuple:
    """``tests`` as a tuple of known test names (one name alone, such as ``"wilcoxon"``, is a tuple of one)."""
    tests = (tests,) if isinstance(tests, str) else tuple(tests)
    for test in tests:
        if test not in TESTS:
            raise ValueError(f"unknown test {test!r}; choose from {TESTS}")
    return tests


def significance_table(per_query: pd.DataFrame, baseline: str | None, tests=TESTS,
                       correction: str | None = "holm") -> pd.DataFrame:
    """The tidy table of :class:`Comparison` from per-query values."""
    tests = check_tests(tests)
    rows = []
    for (lang, measure), frame in per_query.groupby(["lang", "measure"], sort=False):
        values = frame.pivot(index="qid", columns="system", values="value")
        systems = list(dict.fromkeys(frame["system"]))
        base = values[baseline].to_numpy() if baseline else None
        for test in (tests if baseline else [None]):
            family = []
            for system in systems:
                v = values[system].to_numpy()
                row = {"lang": lang, "resource": LANGUAGES[lang].resource, "system": system, "measure": measure,
                       "value": v.mean(), "queries": len(v), "test": test}
                if baseline:
                    row["delta"] = v.mean() - base.mean()
                    row["rel_delta"] = row["delta"] / base.mean() if base.mean() else np.nan
                    row["p"] = np.nan if system == baseline else paired_p(v, base, test)
                    if system != baseline:
                        family.append(len(rows))
                rows.append(row)
            if baseline and family:
                corrected = correct([rows[i]["p"] for i in family], correction)
                for i, pc in zip(family, corrected):
                    rows[i]["p_corrected"] = pc
                    rows[i]["significant"] = bool(pc < 0.05)
    table = pd.DataFrame(rows)
    for column in ("delta", "rel_delta", "p", "p_corrected"):
        if column not in table:
            table[column] = np.nan
    if "significant" not in table:
        table["significant"] = False
    table["significant"] = table["significant"].fillna(False).astype(bool)
    return table


def code_switch_sweep(systems: dict, datasets: dict, lexicons: dict, measures, ratios=(0.0, 0.25, 0.5, 0.75, 1.0),
                      baseline: str | None = None, correction: str | None = "holm", seed: int = 0, save_dir=None,
                      verbose: bool = False) -> Comparison:
    """:func:`compare` on queries code-switched at each ratio: per language, ``CodeSwitch(lexicons[lang], p, seed)``
    rewrites the query before every system. The tables gain a ``ratio`` column (and ``switched``, the share of
    words actually switched)."""
    ratios = [check_ratio(p) for p in ratios]
    missing = set(datasets) - set(lexicons)
    if missing:
        raise ValueError(f"no lexicon for the language(s) {sorted(missing)} of the code-switch sweep")
    tables, per_query = [], []
    for lang, data in datasets.items():
        data = _topics_and_qrels(lang, data)
        for p in ratios:
            switch = CodeSwitch(lexicons[lang], p, seed)
            run = compare({name: switch >> (s[lang] if isinstance(s, dict) else s) for name, s in systems.items()},
                          {lang: data}, measures,
                          baseline, correction=correction if baseline else None, verbose=verbose,
                          save_dir=None if save_dir is None else Path(save_dir) / f"p{p:g}")
            switch(data[0])  # the realised rate (the runs may have come from disk)
            tables.append(run.table.assign(ratio=p, switched=switch.stats_.rate))
            per_query.append(run.per_query.assign(ratio=p))
    return Comparison(pd.concat(tables, ignore_index=True), pd.concat(per_query, ignore_index=True), baseline)
