"""Translation retrieval: the quick effectiveness check used while distilling."""
from __future__ import annotations

import random

import numpy as np


def translation_candidates(pairs, candidates: int = 10, seed: int = 0) -> list:
    """For each pair, indices of ``candidates`` English sentences: its own and its BM25 neighbours (by the English).

    The neighbours are lexically close to the right answer, so a reranker must read the other-language query to
    pick it; their choice does not depend on the query language.
    """
    from .bm25 import neighbours

    english = [en for en, _ in pairs]
    return [[i] + found for i, found in enumerate(neighbours(english, english, candidates - 1, random.Random(seed)))]


def translation_retrieval_mrr(model, tokenizer, pairs, candidates: int = 10, max_queries: int = 200,
                              batch_size: int = 64, verbose: bool = False) -> float:
    """MRR@10 of a cross-encoder ranking each query's (other-language) translation among English candidates."""
    from .reranker import OpticalReranker

    pairs = list(pairs)[:max_queries]
    pools = translation_candidates(pairs, candidates)
    reranker = OpticalReranker(model, tokenizer=tokenizer, batch_size=batch_size, verbose=verbose,
                               device=next(model.parameters()).device)
    queries = [pairs[i][1] for i, pool in enumerate(pools) for _ in pool]
    docs = [pairs[j][0] for pool in pools for j in pool]
    scores = reranker.score(queries, docs)
    rr, start = [], 0
    for pool in pools:
        s = scores[start:start + len(pool)]
        start += len(pool)
        rank = int((s > s[0]).sum())  # the right answer is the first candidate; ties count in its favour
        rr.append(1.0 / (rank + 1) if rank < 10 else 0.0)
    return float(np.mean(rr))
