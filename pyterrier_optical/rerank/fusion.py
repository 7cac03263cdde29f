"""Score fusion of a reranker with its first stage, so that reranking is never blind to the first stage's evidence.

``fused(first_stage, reranker, weight, method)`` is ``first_stage >> KeepScore() >> reranker >> LinearFusion(weight,
method)``: per query, ``weight * norm(reranker score) + (1 - weight) * norm(first-stage score)`` where ``norm`` is
min-max scaling (``"minmax"``) or standardisation (``"zscore"``), or, with ``"rrf"``, weighted reciprocal rank fusion
``weight / (60 + rank) + (1 - weight) / (60 + first-stage rank)``. Choose ``weight`` (and the method) on a dev split of
another source than the test, with :func:`tune_fusion_weight`.
"""
from __future__ import annotations

import ir_measures
import numpy as np
import pandas as pd
import pyterrier as pt

from ..util.checks import check_choice, check_number, check_positive_int, check_text
from ..util.frames import check_result_frame, ranked
from ..util.keys import Keyed
from ..util.measures import parse_measure

FIRST_SCORE = "first_score"
METHODS = ("minmax", "zscore", "rrf")
RRF_K = 60


def check_weight(weight: float, name: str = "weight") -> float:
    """A fusion weight: a number in [0, 1]."""
    return check_number(name, weight, 0.0, 1.0)


class KeepScore(Keyed, pt.Transformer):
    """Copies ``score`` into ``column`` so that a later :class:`LinearFusion` can use it."""

    schematic = {"label": "Keep score"}

    def __init__(self, column: str = FIRST_SCORE):
        self.column = check_text("column", column)

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        pt.validate.result_frame(inp, extra_columns=["score"])
        return inp.assign(**{self.column: inp["score"].astype(float)})


def check_method(method: str) -> str:
    """A fusion method: one of :data:`METHODS`."""
    return check_choice("method", method, METHODS)


def minmax(frame: pd.DataFrame, column: str) -> pd.Series:
    """``column`` rescaled to [0, 1] within each query (a query whose scores are all equal gets 0)."""
    grouped = frame.groupby("qid")[column]
    low, high = grouped.transform("min"), grouped.transform("max")
    return ((frame[column] - low) / (high - low).where(high > low, 1.0)).fillna(0.0)


def zscore(frame: pd.DataFrame, column: str) -> pd.Series:
    """``column`` standardised within each query (mean 0, standard deviation 1; all-equal scores get 0)."""
    grouped = frame.groupby("qid")[column]
    mean, std = grouped.transform("mean"), grouped.transform("std", ddof=0)
    return ((frame[column] - mean) / std.where(std > 0, 1.0)).fillna(0.0)


def rank_within_query(frame: pd.DataFrame, column: str) -> pd.Series:
    """The 1-based rank of each row by ``column`` within its query (1 is the highest score; ties by row order)."""
    return frame.groupby("qid")[column].rank(method="first", ascending=False)


def reciprocal_rank(frame: pd.DataFrame, column: str) -> pd.Series:
    """``1 / (60 + rank)`` of each row by ``column`` within its query (rank 1 is the highest score)."""
    return 1.0 / (RRF_K + rank_within_query(frame, column))


NORMALISERS = {"minmax": minmax, "zscore": zscore, "rrf": reciprocal_rank}


def mixed(weight: float, reranker, first):
    """The fused score of normalised reranker and first-stage scores: ``weight * reranker + (1 - weight) * first``."""
    return weight * reranker + (1 - weight) * first


class LinearFusion(Keyed, pt.Transformer):
    """``score = weight * norm(score) + (1 - weight) * norm(first)`` per query, then re-ranked; ``method`` picks
    ``norm``: ``"minmax"`` (default), ``"zscore"`` or ``"rrf"`` (reciprocal ranks: weighted RRF).

    ``weight`` 1 keeps the reranker's order, 0 the first stage's.
    """

    schematic = {"label": "Fusion"}

    def __init__(self, weight: float, method: str = "minmax", first: str = FIRST_SCORE):
        self.weight = check_weight(weight)
        self.method = check_method(method)
        self.first = check_text("first", first)

    def __repr__(self):
        return f"LinearFusion({self.weight}, {self.method!r})"

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        pt.validate.result_frame(inp, extra_columns=["score", self.first])
        if inp.empty:
            return inp
        check_fusion_input(inp, self.first)
        norm = NORMALISERS[self.method]
        score = mixed(self.weight, norm(inp, "score"), norm(inp, self.first))
        return ranked(inp.assign(score=score.to_numpy()))


def check_fusion_input(run: pd.DataFrame, first: str = FIRST_SCORE) -> pd.DataFrame:
    """``run`` once each qid is one query (:func:`~pyterrier_optical.util.frames.check_result_frame`) and both of
    its scores are finite numbers, naming a row otherwise."""
    check_result_frame(run)
    for column in ("score", first):
        if column not in run.columns:
            raise ValueError(f"fusion needs a {column!r} column (the run has {', '.join(map(str, run.columns))})")
        missing = run[column].isna() | ~np.isfinite(pd.to_numeric(run[column], errors="coerce"))
        if missing.any():
            row = run[missing].iloc[0]
            raise ValueError(f"{column} of query {row['qid']!r}, document {row['docno']!r} is {row[column]} "
                             f"({int(missing.sum())} such rows): fusion needs a finite score for every document")
    return run


def check_topics(topics) -> pd.DataFrame | None:
    """``topics`` when it is None or a frame with a ``qid`` column; a ValueError naming it otherwise."""
    if topics is not None and not (isinstance(topics, pd.DataFrame) and "qid" in topics.columns):
        got = f"columns {list(topics.columns)}" if isinstance(topics, pd.DataFrame) else repr(topics)
        raise ValueError(f"topics must be a DataFrame with a qid column (or None), got {got}"[:300])
    return topics


def check_transformer(name: str, value) -> pt.Transformer:
    """``value`` when it is a PyTerrier transformer; a ValueError naming ``name`` otherwise."""
    if not isinstance(value, pt.Transformer):
        raise ValueError(f"{name} must be a PyTerrier transformer, got {value!r}"[:300])
    return value


def check_list(name: str, values) -> list:
    """``values`` (a list, tuple or other iterable but a string) as a non-empty list."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a non-empty list, got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must be a non-empty list, got []")
    return values


def check_grid(grid) -> list:
    """Fusion weights to try (default 0, 0.1, ..., 1): a non-empty list of numbers in [0, 1]."""
    if grid is None:
        return [float(w) for w in np.linspace(0, 1, 11).round(2)]
    return [check_weight(w, "each weight of grid") for w in check_list("grid", grid)]


def fused(first_stage: pt.Transformer, reranker: pt.Transformer, weight: float, method: str = "minmax"
          ) -> pt.Transformer:
    """``first_stage >> reranker`` with the reranker's scores fused with the first stage's."""
    check_transformer("first_stage", first_stage)
    check_transformer("reranker", reranker)
    return first_stage >> KeepScore() >> reranker >> LinearFusion(weight, method)


def fusion_curve(run: pd.DataFrame, qrels: pd.DataFrame, measure=ir_measures.RR @ 10, grid=None,
                 method: str = "minmax", topics: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-query ``measure`` of ``LinearFusion(w, method)`` on ``run`` (a reranked run with ``first_score``) for each
    weight of ``grid`` (default 0, 0.1, ..., 1): columns ``weight``, ``qid``, ``value``. The queries are the judged
    ones of ``topics`` (default: of the run), a query the run has nothing for scoring 0, as in ``compare``."""
    grid = check_grid(grid)
    check_method(method)
    return _fusion_curve(check_fusion_input(run), qrels, parse_measure(measure), grid, method, check_topics(topics))


def _fusion_curve(run: pd.DataFrame, qrels: pd.DataFrame, measure, grid: list, method: str,
                  topics: pd.DataFrame | None) -> pd.DataFrame:
    """:func:`fusion_curve` of arguments already checked."""
    norm = NORMALISERS[method]
    reranker, first = norm(run, "score"), norm(run, FIRST_SCORE)
    qids = run["qid"].astype(str)
    asked = set(qids) if topics is None else set(topics["qid"].astype(str))
    qrels = qrels.assign(qid=qrels["qid"].astype(str))
    qrels = qrels[qrels["qid"].isin(asked)]
    # every weight's fused run in one evaluation, as query ids "<weight index>|<qid>" (LinearFusion's scores; the
    # measure ranks by score, so no re-ranking is needed)
    runs = pd.concat([pd.DataFrame({"query_id": f"{i}|" + qids, "doc_id": run["docno"].astype(str),
                                    "score": mixed(w, reranker, first).to_numpy()}) for i, w in enumerate(grid)])
    judged = pd.concat([pd.DataFrame({"query_id": f"{i}|" + qrels["qid"], "doc_id": qrels["docno"].astype(str),
                                      "relevance": qrels["label"].to_numpy()}) for i in range(len(grid))])
    rows = [(int(index), qid, m.value) for m in ir_measures.iter_calc([measure], judged, runs)
            for index, qid in [m.query_id.split("|", 1)]]
    scored = pd.DataFrame(rows, columns=["index", "qid", "value"])
    every = pd.MultiIndex.from_product([range(len(grid)), sorted(set(qrels["qid"]))], names=["index", "qid"])
    curve = (scored.set_index(["index", "qid"])["value"].reindex(every, fill_value=0.0)  # nothing retrieved: 0
             .reset_index().sort_values(["index", "qid"], kind="stable"))
    return pd.DataFrame({"weight": [grid[i] for i in curve["index"]], "qid": curve["qid"].to_numpy(),
                         "value": curve["value"].to_numpy()})


def best_weight(curve: pd.DataFrame) -> float:
    """The weight with the highest mean over the curve's queries; ties go to the smaller weight (the first stage)."""
    means = curve.groupby("weight")["value"].mean()
    return float(means.index[int(np.argmax(means.to_numpy()))])


def tune_fusion_weight(first_stage: pt.Transformer, reranker: pt.Transformer, topics: pd.DataFrame,
                       qrels: pd.DataFrame, measure=ir_measures.RR @ 10, grid=None, method: str = "minmax") -> tuple:
    """The weight that maximises ``measure`` on ``topics`` (a dev split, never the test one) and the mean measure
    at every weight. The pipeline runs once."""
    check_transformer("first_stage", first_stage)
    check_transformer("reranker", reranker)
    grid = check_grid(grid)
    check_method(method)
    measure = parse_measure(measure)
    curve = fusion_curve((first_stage >> KeepScore() >> reranker)(topics), qrels, measure, grid, method, topics)
    return best_weight(curve), curve.groupby("weight", as_index=False)["value"].mean().rename(
        columns={"value": str(measure)})


def first_stage_rank(run: pd.DataFrame, column: str = FIRST_SCORE) -> pd.Series:
    """The 0-based rank of each row within its query by the first stage's score."""
    return rank_within_query(run, column).astype(int) - 1


def fusion_grid(run: pd.DataFrame, qrels: pd.DataFrame, measure=ir_measures.RR @ 10, depths=(10, 20, 50),
                methods=METHODS, grid=None, topics: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`fusion_curve` of ``run`` (reranked, with ``first_score``) cut to each first-stage ``depth`` and fused by
    each method: columns ``depth``, ``method``, ``weight``, ``qid``, ``value``. Weight 1 is the reranker alone on the
    top ``depth`` (the same for every method), weight 0 the first stage; the queries are the judged ones of
    ``topics`` (default: of the run)."""
    depths = [check_positive_int("each of depths", d) for d in check_list("depths", depths)]
    methods = [check_choice("each of methods", m, METHODS) for m in check_list("methods", methods)]
    grid, topics, measure = check_grid(grid), check_topics(topics), parse_measure(measure)
    rank = first_stage_rank(check_fusion_input(run))  # checked once: each depth's cut is a part of it
    frames = []
    for depth in depths:
        top = run[rank < depth]
        for method in methods:
            frames.append(_fusion_curve(top, qrels, measure, grid, method, topics).assign(depth=depth,
                                                                                          method=method))
    return pd.concat(frames, ignore_index=True)[["depth", "method", "weight", "qid", "value"]]


STANDARD_SETTING = {"method": "minmax", "weight": 0.5}  # CombSUM of min-max normalised scores, equal weights


def best_setting(grid: pd.DataFrame, standard: dict | None = STANDARD_SETTING) -> dict:
    """The ``depth``, ``method`` and ``weight`` to use from a :func:`fusion_grid` (rows may carry a ``lang``).

    With ``standard`` (the default: min-max at weight 0.5, the smallest depth), the one-standard-error rule: among
    the settings whose mean is within one standard error (of the paired per-query difference) of the best one, the
    nearest to the standard setting (by weight, then depth, then method) — a dev set that cannot tell settings apart
    keeps the standard one. ``standard=None``: the highest mean (ties to the smaller depth, the earlier method of
    :data:`METHODS`, the smaller weight). ``dev_value`` is the chosen setting's mean, ``dev_best`` the highest one."""
    keys = ["depth", "method", "weight"]
    query = [c for c in ("lang", "qid") if c in grid.columns]
    values = grid.pivot_table(index=query, columns=keys, values="value", aggfunc="mean")
    means = values.mean().rename("value").reset_index()
    means["order"] = means["method"].map({m: i for i, m in enumerate(METHODS)})
    best = means.sort_values(["value", "depth", "order", "weight"], ascending=[False, True, True, True]).iloc[0]
    chosen = best
    if standard is not None and len(values) > 1:
        diffs = values[tuple(best[k] for k in keys)].to_numpy()[:, None] - values.to_numpy()
        means["se"] = np.nanstd(diffs, axis=0, ddof=1) / np.sqrt(len(values))  # means' rows are values' columns
        close = means[best["value"] - means["value"] <= means["se"] + 1e-12].assign(
            distance=lambda m: (m["weight"] - standard["weight"]).abs().round(6),
            other_method=lambda m: m["method"] != standard["method"])
        chosen = close.sort_values(["distance", "depth", "other_method", "order"]).iloc[0]
    return {"depth": int(chosen["depth"]), "method": chosen["method"], "weight": float(chosen["weight"]),
            "dev_value": float(chosen["value"]), "dev_best": float(best["value"])}


def check_disjoint(dev_topics: pd.DataFrame, test_topics: pd.DataFrame) -> None:
    """A ValueError naming how many dev queries also occur in the test topics (by qid or by query text)."""
    shared = len(dev_topics) - len(without_overlap(dev_topics, test_topics))
    if shared:
        raise ValueError(f"the fusion dev set shares {shared} of its {len(dev_topics)} queries with the test topics: "
                         "tune on queries the test never sees")


def without_overlap(dev_topics: pd.DataFrame, test_topics: pd.DataFrame) -> pd.DataFrame:
    """``dev_topics`` without the queries (qid or text) that also occur in ``test_topics``."""
    test_qids, test_texts = set(test_topics["qid"].astype(str)), set(test_topics["query"].astype(str))
    keep = ~(dev_topics["qid"].astype(str).isin(test_qids) | dev_topics["query"].astype(str).isin(test_texts))
    return dev_topics[keep]
