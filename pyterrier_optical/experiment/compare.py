"""Compare pipelines across languages: paired significance tests with multiple-testing correction, the gap between
high- and low-resource languages, and code-switch sweeps.

Each language is one ``pt.Experiment`` (the prefix common to all systems, such as a first stage, runs once) whose runs
are saved in ``save_dir`` and reused (:mod:`.saved_runs`): an interrupted comparison loses only the system it was
running. The statistics are in :mod:`.stats`.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyterrier as pt

from ..data.languages import language
from ..retrieve.codeswitch import CodeSwitch, check_ratio
from ..util.frames import check_result_frame
from ..util.measures import parse_measures
from .saved_runs import saved_runs
from .stats import (BOOTSTRAP_SAMPLES, CORRECTIONS, TESTS, check_correction, check_tests, correct, paired_p,
                    resource_gap, significance_table)

__all__ = ["CODE_SWITCH_RATIOS", "CORRECTIONS", "TESTS", "Comparison", "check_tests", "code_switch_sweep", "compare",
           "correct", "paired_p", "parse_measures", "significance_table"]
logger = logging.getLogger(__name__)
CODE_SWITCH_RATIOS = (0.0, 0.25, 0.5, 0.75, 1.0)  # shares of the switchable query words switched to English


def _read_dataset(data) -> tuple:
    """(topics, qrels) of a dataset given as a pair, an object with get_topics/get_qrels, or a dataset id."""
    if isinstance(data, str):
        data = pt.get_dataset(data if ":" in data else f"irds:{data}")
    if isinstance(data, tuple):
        return data
    return data.get_topics(), data.get_qrels()


def _unique_topics(name: str, topics: pd.DataFrame) -> pd.DataFrame:
    """``topics`` with string qids, a row repeated whole kept once; a qid given to two queries is refused
    (:func:`~pyterrier_optical.util.frames.check_result_frame`, naming the dataset)."""
    topics = topics.assign(qid=topics["qid"].astype(str)).drop_duplicates(["qid", "query"])  # 1 and "1": one query
    try:
        return check_result_frame(topics)
    except ValueError as e:
        raise ValueError(f"topics of dataset {name!r}: {e}") from None


def _unique_qrels(name: str, qrels: pd.DataFrame) -> pd.DataFrame:
    """``qrels`` with string ids and integer labels, a judgement repeated whole kept once; a label that is not a
    whole number (NaN, a string, 1.5) and two labels for one pair are refused."""
    labels = pd.to_numeric(qrels["label"], errors="coerce").astype("float64")  # pd.NA of a nullable column: NaN
    bad = ~(np.isfinite(labels) & (labels == labels.round()))
    if bad.any():
        row = qrels[bad].iloc[0]
        raise ValueError(f"qrels of dataset {name!r}: query {row['qid']!r} and document {row['docno']!r} have the "
                         f"label {row['label']!r} ({int(bad.sum())} such rows): labels must be whole numbers")
    qrels = qrels.assign(qid=qrels["qid"].astype(str), docno=qrels["docno"].astype(str), label=labels.astype(int))
    qrels = qrels.drop_duplicates(["qid", "docno", "label"])
    conflicting = qrels[qrels.duplicated(["qid", "docno"], keep=False)]
    if len(conflicting):
        first = conflicting.iloc[0]
        labels = conflicting[(conflicting["qid"] == first["qid"]) & (conflicting["docno"] == first["docno"])]
        raise ValueError(f"qrels of dataset {name!r}: query {first['qid']!r} and document {first['docno']!r} have "
                         f"the labels {sorted(labels['label'].tolist())} ({len(conflicting)} such rows): keep one")
    return qrels


def topics_and_qrels(name: str, data) -> tuple:
    """(topics, qrels) of dataset ``name`` (see :func:`compare`), checked, with string ids, and the topics limited
    to the queries that have judgements."""
    topics, qrels = _read_dataset(data)
    pt.validate.query_frame(topics, ["query"])
    missing = {"qid", "docno", "label"} - set(qrels.columns)
    if missing:
        raise ValueError(f"qrels of dataset {name!r} lack the column(s) {sorted(missing)}")
    for what, frame in (("topics", topics), ("qrels", qrels)):
        if frame["qid"].isna().any():
            rows = frame.index[frame["qid"].isna()].tolist()
            raise ValueError(f"{what} of dataset {name!r}: {len(rows)} row(s) without a qid (rows {rows[:5]})")
    topics, qrels = _unique_topics(name, topics), _unique_qrels(name, qrels)
    common = set(topics["qid"]) & set(qrels["qid"])
    if not common:
        raise ValueError(f"dataset {name!r}: no query has both a topic and relevance judgements")
    return topics[topics["qid"].isin(common)], qrels


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

    def gap(self, measure, baseline: str | None = None, n_boot: int = BOOTSTRAP_SAMPLES, seed: int = 0,
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
        gap = resource_gap(data, baseline, n_boot, seed, alpha)
        gap.insert(1, "measure", name)
        return gap


def _check_comparison(systems: dict, datasets: dict, baseline: str | None, correction: str | None) -> None:
    """A ValueError for nothing to compare, an unknown baseline or correction, or a correction without baseline."""
    if not systems:
        raise ValueError("no systems to compare")
    if not datasets:
        raise ValueError("no datasets given")
    if baseline is not None and baseline not in systems:
        raise ValueError(f"baseline {baseline!r} is not among the systems {list(systems)}")
    if correction is not None and baseline is None:
        raise ValueError(f"correction {correction!r} needs a baseline to compare against: pass baseline=<a system "
                         "name>, or correction=None for the means alone")
    check_correction(correction)


def _pipelines_of(systems: dict, lang: str) -> list:
    """The pipeline of each system for ``lang`` (a system is one pipeline, or one per language)."""
    pipelines = []
    for name, system in systems.items():
        if isinstance(system, dict) and lang not in system:
            raise ValueError(f"system {name!r} has no pipeline for the language {lang!r}")
        pipelines.append(system[lang] if isinstance(system, dict) else system)
    return pipelines


def _complete(run: pd.DataFrame, names: list, measures: list, topics: pd.DataFrame) -> pd.DataFrame:
    """``run`` with a value for every (system, measure, query): what a system returned nothing for scores 0."""
    qids = topics["qid"].astype(str).unique()
    full = pd.MultiIndex.from_product([names, [str(m) for m in measures], qids], names=["name", "measure", "qid"])
    run = run.assign(qid=run["qid"].astype(str)).set_index(["name", "measure", "qid"])["value"]
    return run.reindex(full, fill_value=0.0).reset_index().rename(columns={"name": "system"})


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
    _check_comparison(systems, datasets, baseline, correction)
    tests, measures, names = check_tests(tests), parse_measures(measures), list(systems)
    inputs = {}
    for lang, data in datasets.items():
        language(lang)
        inputs[lang] = topics_and_qrels(lang, data)
    kwargs = {"batch_size": batch_size} if batch_size else {}
    per_query = []
    for lang, (topics, qrels) in inputs.items():
        pipelines = _pipelines_of(systems, lang)
        with saved_runs(save_dir, lang, names, pipelines, topics) as saving:
            run = experiment(lang, pipelines, names, topics, qrels, measures, verbose, {**kwargs, **saving})
        per_query.append(_complete(run, names, measures, topics).assign(lang=lang))
        logger.info("%s: %d systems on %d queries", lang, len(names), topics["qid"].nunique())
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


def code_switch_sweep(systems: dict, datasets: dict, lexicons: dict, measures, ratios=CODE_SWITCH_RATIOS,
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
        data = topics_and_qrels(lang, data)
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
