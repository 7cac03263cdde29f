"""Score fusion of a reranker with its first stage, so that reranking is never blind to the first stage's evidence.

``fused(first_stage, reranker, weight)`` is ``first_stage >> KeepScore() >> reranker >> LinearFusion(weight)``:
per query, ``weight * minmax(reranker score) + (1 - weight) * minmax(first-stage score)``. Choose ``weight`` on a
dev split with :func:`tune_fusion_weight`.
"""
from __future__ import annotations

import ir_measures
import numpy as np
import pandas as pd
import pyterrier as pt

from ..util.frames import ranked

FIRST_SCORE = "first_score"


def check_weight(weight: float) -> float:
    if not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
        raise ValueError(f"fusion weight must be in [0, 1], got {weight!r}")
    return float(weight)


class KeepScore(pt.Transformer):
    """Copies ``score`` into ``column`` so that a later :class:`LinearFusion` can use it."""

    def __init__(self, column: str = FIRST_SCORE):
        self.column = column

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        pt.validate.result_frame(inp, extra_columns=["score"])
        return inp.assign(**{self.column: inp["score"].astype(float)})


def minmax(frame: pd.DataFrame, column: str) -> pd.Series:
    """``column`` rescaled to [0, 1] within each query (a query whose scores are all equal gets 0)."""
    grouped = frame.groupby("qid")[column]
    low, high = grouped.transform("min"), grouped.transform("max")
    return ((frame[column] - low) / (high - low).where(high > low, 1.0)).fillna(0.0)


class LinearFusion(pt.Transformer):
    """``score = weight * minmax(score) + (1 - weight) * minmax(first)`` per query, then re-ranked.

    ``weight`` 1 keeps the reranker's order, 0 the first stage's.
    """

    def __init__(self, weight: float, first: str = FIRST_SCORE):
        self.weight = check_weight(weight)
        self.first = first

    def __repr__(self):
        return f"LinearFusion({self.weight})"

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        pt.validate.result_frame(inp, extra_columns=["score", self.first])
        if inp.empty:
            return inp
        score = self.weight * minmax(inp, "score") + (1 - self.weight) * minmax(inp, self.first)
        return ranked(inp.assign(score=score.to_numpy()))


def fused(first_stage: pt.Transformer, reranker: pt.Transformer, weight: float) -> pt.Transformer:
    """``first_stage >> reranker`` with the reranker's scores fused with the first stage's."""
    return first_stage >> KeepScore() >> reranker >> LinearFusion(weight)


def fusion_curve(run: pd.DataFrame, qrels: pd.DataFrame, measure=ir_measures.RR @ 10, grid=None) -> pd.DataFrame:
    """Per-query ``measure`` of ``LinearFusion(w)`` on ``run`` (a reranked run with ``first_score``) for each weight
    of ``grid`` (default 0, 0.1, ..., 1): columns ``weight``, ``qid``, ``value``."""
    grid = [check_weight(w) for w in (np.linspace(0, 1, 11).round(2) if grid is None else grid)]
    if not grid:
        raise ValueError("empty grid of fusion weights")
    qrels = qrels[qrels["qid"].astype(str).isin(set(run["qid"].astype(str)))]  # only the queries that were run
    frames = []
    for w in grid:
        fused_run = LinearFusion(w)(run).rename(columns={"qid": "query_id", "docno": "doc_id"})
        values = ir_measures.iter_calc([measure], qrels.rename(columns={"qid": "query_id", "docno": "doc_id",
                                                                      "label": "relevance"}), fused_run)
        frames.append(pd.DataFrame([(w, m.query_id, m.value) for m in values], columns=["weight", "qid", "value"]))
    return pd.concat(frames, ignore_index=True)


def best_weight(curve: pd.DataFrame) -> float:
    """The weight with the highest mean over the curve's queries; ties go to the smaller weight (the first stage)."""
    means = curve.groupby("weight")["value"].mean()
    return float(means.index[int(np.argmax(means.to_numpy()))])


def tune_fusion_weight(first_stage: pt.Transformer, reranker: pt.Transformer, topics: pd.DataFrame,
                       qrels: pd.DataFrame, measure=ir_measures.RR @ 10, grid=None) -> tuple:
    """The weight that maximises ``measure`` on ``topics`` (a dev split, never the test one) and the mean measure
    at every weight. The pipeline runs once."""
    curve = fusion_curve((first_stage >> KeepScore() >> reranker)(topics), qrels, measure, grid)
    return best_weight(curve), curve.groupby("weight", as_index=False)["value"].mean().rename(
        columns={"value": str(measure)})
