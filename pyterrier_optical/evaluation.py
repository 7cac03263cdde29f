"""Translation retrieval: the quick effectiveness check used while distilling."""
from __future__ import annotations

import random

import numpy as np


def translation_candidates(english: list, candidates: int = 10, seed: int = 0) -> list:
    """For each English sentence, ``candidates`` distinct English sentences: itself first, then its BM25 neighbours.

    The neighbours are lexically close to the right answer, so a reranker must read the other-language query to
    pick it; their choice does not depend on the query language. Repeated sentences (the same English string in
    several languages' bitext) are one candidate.
    """
    from .bm25 import neighbours

    unique = list(dict.fromkeys(english))
    found = neighbours(unique, unique, candidates - 1, random.Random(seed))
    pools = {text: [text] + [unique[j] for j in near] for text, near in zip(unique, found)}
    return [pools[text] for text in english]


def pool_mrr(score, queries: list, pools: list) -> float:
    """MRR@10 of the first candidate of each pool (the right answer) when ``score(queries, texts)`` ranks the pool
    for its query; ties count in the answer's favour."""
    scores = score([q for q, pool in zip(queries, pools) for _ in pool], [doc for pool in pools for doc in pool])
    rr, start = [], 0
    for pool in pools:
        s = np.asarray(scores[start:start + len(pool)])
        start += len(pool)
        rank = int((s > s[0]).sum())
        rr.append(1.0 / (rank + 1) if rank < 10 else 0.0)
    return float(np.mean(rr))


def translation_retrieval_mrr(model, tokenizer, pairs, candidates: int = 10, max_queries: int = 200,
                              batch_size: int = 64, verbose: bool = False) -> float:
    """MRR@10 of a cross-encoder ranking each query's (other-language) translation among English candidates."""
    from .reranker import OpticalReranker

    pairs = list(pairs)[:max_queries]
    pools = translation_candidates([en for en, _ in pairs], candidates)
    reranker = OpticalReranker(model, tokenizer=tokenizer, batch_size=batch_size, verbose=verbose,
                               device=next(model.parameters()).device)
    return pool_mrr(reranker.score, [other for _, other in pairs], pools)
