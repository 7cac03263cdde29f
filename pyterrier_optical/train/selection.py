"""Translation retrieval on dev bitext, the quick effectiveness check of a cross-encoder, and checkpoint selection on
it during training (:class:`DevSelection`, a :class:`~pyterrier_optical.train.loop.Trainer` callback)."""
from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np

from ..models.backbones import SAFETENSORS_FILE
from ..models.checkpoint import is_checkpoint, write_checkpoint
from ..models.recipes import EVAL_BATCH_SIZE, EVAL_MAX_LENGTH
from ..models.scoring import score_pairs
from ..retrieve.bm25 import neighbours
from ..retrieve.dense import E5Encoder
from ..util.device import autocast
from ..util.ranking import reciprocal_rank
from .loop import BEST_DIR, EVAL_LOG, MAIN_METRIC, Callback

logger = logging.getLogger(__name__)


def translation_candidates(english: list, candidates: int = 10, seed: int = 0, source: str = "bm25") -> list:
    """For each English sentence, ``candidates`` distinct English sentences: itself first, then its neighbours, by
    BM25 (``source="bm25"``) or by multilingual-e5-small cosine (``"mE5"``, the hard negatives a dense first stage
    produces).

    The neighbours are close to the right answer, so a reranker must read the other-language query to pick it;
    their choice does not depend on the query language. Repeated sentences (the same English string in several
    languages' bitext) are one candidate.
    """
    unique = list(dict.fromkeys(english))
    if source == "mE5":
        found = dense_neighbours(unique, candidates - 1)
    elif source == "bm25":
        found = neighbours(unique, unique, candidates - 1, random.Random(seed))
    else:
        raise ValueError(f"unknown candidate source {source!r}; choose bm25 or mE5")
    pools = {text: [text] + [unique[j] for j in near] for text, near in zip(unique, found)}
    return [pools[text] for text in english]


def dense_neighbours(texts: list, k: int) -> list:
    """For each text, the indices of its ``k`` nearest other texts by the embedded multilingual-e5-small (passage
    embeddings, exact cosine)."""
    vectors = E5Encoder(batch_size=EVAL_BATCH_SIZE).encode_docs(texts)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    k = min(k, len(texts) - 1)
    nearest = np.argpartition(-similarity, k, axis=1)[:, :k]  # kth = k <= n - 1 is always a valid index
    order = np.take_along_axis(similarity, nearest, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(nearest, order, axis=1).tolist()


def pool_mrr(score, queries: list, pools: list) -> float:
    """MRR@10 of the first candidate of each pool (the right answer) when ``score(queries, texts)`` ranks the pool
    for its query; ties count in the answer's favour."""
    scores = score([q for q, pool in zip(queries, pools) for _ in pool], [doc for pool in pools for doc in pool])
    ends = np.cumsum([len(pool) for pool in pools])
    return float(np.mean([reciprocal_rank(scores[end - len(pool):end], 0) for pool, end in zip(pools, ends)]))


def translation_retrieval_mrr(model, tokenizer, queries: list, pools: list, max_length: int = EVAL_MAX_LENGTH,
                              batch_size: int = EVAL_BATCH_SIZE, precision: str = "fp32") -> float:
    """MRR@10 of a cross-encoder ranking each query's translation (the first of its pool) among the pool."""
    def score(q, t):
        return score_pairs(model, tokenizer, q, t, max_length, batch_size, precision=precision)

    return pool_mrr(score, queries, pools)


def read_eval_log(run) -> list:
    """The records of ``<run>/eval.jsonl`` ([] when there is none)."""
    log = Path(run) / EVAL_LOG
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []


class DevSelection(Callback):
    """Scores the model on dev bitext every ``every`` steps and at the end, logging to ``<out>/eval.jsonl``; the best
    checkpoint by dev MRR@10 is kept in ``<out>/best`` and, with ``select``, becomes the output (step 0, the
    starting model, when no later one beats it; ties go to the earlier step).

    Args:
        pairs: dev ``(english, other)`` pairs; the other-language side is the query.
        pools: one English candidate list per pair, its own English first (:func:`translation_candidates`).
        tokenizer: the model's tokenizer.
        every: steps between evaluations.
        select: make the best checkpoint the output (False: evaluate and log only).
        diagnostics: ``diagnostics(model) -> dict`` of more values to log (e.g. the dev distillation loss).
    """

    def __init__(self, pairs, pools, tokenizer, every: int, select: bool = True, diagnostics=None):
        if len(pairs) != len(pools):
            raise ValueError(f"{len(pairs)} dev pairs but {len(pools)} candidate pools")
        if every < 1:
            raise ValueError(f"dev evaluation every {every} steps: must be >= 1")
        self.queries = [other for _, other in pairs]
        self.pools, self.tokenizer, self.every = pools, tokenizer, every
        self.select, self.diagnostics = select, diagnostics
        self.out = None
        self.scored, self.best = set(), (-1.0, None)

    def _open(self, out: Path):
        """Pick up what an interrupted run had scored (its best only while ``best/`` holds that checkpoint)."""
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        records = read_eval_log(out)
        self.scored = {r["step"] for r in records}
        best = max(records, key=lambda r: r[MAIN_METRIC], default=None)
        if best and is_checkpoint(out / BEST_DIR):
            self.best = (best[MAIN_METRIC], best["step"])

    def before_step(self, trainer, step: int) -> None:
        if self.out is None:
            self._open(trainer.out)
        if step % self.every == 0:
            self.evaluate(trainer, step)

    def evaluate(self, trainer, step: int) -> None:
        if step in self.scored:
            return
        model = trainer.unwrapped()
        training = model.training
        model.eval()
        with autocast(trainer.precision, trainer.accelerator.device):
            record = {"step": step, **(self.diagnostics(model) if self.diagnostics else {})}
        record[MAIN_METRIC] = translation_retrieval_mrr(model, self.tokenizer, self.queries, self.pools,
                                                        precision=trainer.precision)
        model.train(training)
        if record[MAIN_METRIC] > self.best[0]:
            self.best = (record[MAIN_METRIC], step)
            write_checkpoint(model, self.tokenizer, self.out / BEST_DIR, {"step": step, MAIN_METRIC: self.best[0]})
        logger.info("eval %s", record)
        with open(self.out / EVAL_LOG, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.scored.add(step)

    def after_training(self, trainer) -> None:
        if self.out is None:
            self._open(trainer.out)
        self.evaluate(trainer, trainer.step)
        if not self.select:
            return
        mrr, step = self.best
        trainer.metadata.update(selected_step=step, selected_dev_mrr=mrr)
        if step != trainer.step:
            from safetensors.torch import load_file

            trainer.unwrapped().load_state_dict(load_file(self.out / BEST_DIR / SAFETENSORS_FILE), strict=False)
            logger.warning("step %d is the best on dev (MRR@10 %.3f); it is the output", step, mrr)
