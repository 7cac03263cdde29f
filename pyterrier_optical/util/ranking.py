"""Reciprocal rank of a known relevant item under a list of scores: the quick effectiveness measure of the training
curves and dev selection (the experiments use ir_measures on runs)."""
from __future__ import annotations

import numpy as np


def reciprocal_rank(scores, relevant: int, cutoff: int = 10) -> float:
    """RR@``cutoff`` of item ``relevant`` under ``scores`` (0 when ``relevant`` is -1, absent; ties in its favour)."""
    if relevant < 0:
        return 0.0
    scores = np.asarray(scores)
    rank = int((scores > scores[relevant]).sum())
    return 1.0 / (rank + 1) if rank < cutoff else 0.0


def reciprocal_ranks(scores: np.ndarray, relevant, cutoff: int = 10) -> np.ndarray:
    """:func:`reciprocal_rank` of each row of ``scores`` and its ``relevant`` position."""
    return np.array([reciprocal_rank(row, int(r), cutoff) for row, r in zip(scores, relevant)])
