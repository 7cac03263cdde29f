"""Learning curves of a distillation run, in the dense pipeline's terms: every ``every`` steps, per language of the
Kolibri dev splits, the student reranking mE5's top ``depth`` English dev strings, alone and fused with mE5's cosine
(min-max, weight 0.5), logged to ``<out>/curve.jsonl`` with the low- and high-resource means; mE5 alone is logged
once as the reference."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.bitext import KOLIBRI_LANGUAGES, load_bitext
from ..data.languages import language
from ..models.checkpoint import weights_digest
from ..models.recipes import EVAL_BATCH_SIZE, EVAL_MAX_LENGTH
from ..models.scoring import score_pairs
from ..rerank.fusion import minmax
from ..retrieve.dense import E5Encoder
from ..util.device import autocast
from ..util.ranking import reciprocal_ranks
from .loop import CURVE_LOG, Callback

logger = logging.getLogger(__name__)


def read_curve(run) -> list:
    """The records a run's learning curve logged (``<run>/curve.jsonl``), by step; none when it logged nothing."""
    file = Path(run) / CURVE_LOG
    if not file.exists():
        return []
    return sorted((json.loads(line) for line in file.read_text().splitlines() if line.strip()),
                  key=lambda record: record["step"])


@dataclass
class DevLists:
    """One language's dev queries, each with mE5's top English candidates, their cosines, and the relevant one's
    position in the list (-1 when mE5 did not retrieve it)."""

    queries: list
    candidates: list
    cosines: np.ndarray
    relevant: np.ndarray


def dense_dev_lists(lang: str, depth: int = 20, max_queries: int = 100, encoder: E5Encoder | None = None,
                    source: str = "kolibri") -> DevLists:
    """mE5's top ``depth`` of ``lang``'s dev English strings of the shipped bitext ``source`` for each of its first
    ``max_queries`` queries."""
    pairs = load_bitext(lang, "dev", source)
    encoder = encoder or E5Encoder(batch_size=EVAL_BATCH_SIZE)
    english = [en for en, _ in pairs]
    queries = [other for _, other in pairs][:max_queries]
    similarity = encoder.encode_queries(queries) @ encoder.encode_docs(english).T
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :depth]
    relevant = np.array([int(np.flatnonzero(row == i)[0]) if i in row else -1 for i, row in enumerate(top)])
    return DevLists(queries, [[english[j] for j in row] for row in top],
                    np.take_along_axis(similarity, top, axis=1), relevant)


def row_minmax(scores: np.ndarray) -> np.ndarray:
    """Each row of ``scores`` min-max scaled as the fusion of runs scales each query's scores."""
    frame = pd.DataFrame({"qid": np.repeat(np.arange(len(scores)), scores.shape[1]), "score": scores.ravel()})
    return minmax(frame, "score").to_numpy().reshape(scores.shape)


def rerank_dev_lists(model, tokenizer, lists: DevLists, precision: str, weight: float = 0.5) -> dict:
    """Mean RR@10 of ``lists`` reranked by the cross-encoder ``model`` alone, fused with mE5's cosine at ``weight``
    (per-query min-max), and of mE5 alone."""
    flat = [q for q, c in zip(lists.queries, lists.candidates) for _ in c]
    scores = score_pairs(model, tokenizer, flat, [d for c in lists.candidates for d in c], EVAL_MAX_LENGTH,
                         EVAL_BATCH_SIZE, precision=precision).reshape(lists.cosines.shape)
    fused = weight * row_minmax(scores) + (1 - weight) * row_minmax(lists.cosines)
    return {key: float(reciprocal_ranks(values, lists.relevant).mean())
            for key, values in (("alone", scores), ("fused", fused), ("mE5", lists.cosines))}


class LearningCurve(Callback):
    """Logs the student's dev RR@10 per Kolibri language, alone and fused with mE5, every ``every`` steps and at the
    end (``curve.jsonl`` in the run's folder, each record with the digest of the weights it scored; an interrupted
    run goes on from the steps it logged). Its ``after_training`` must run before a dev selection's, which may load
    an earlier step's weights."""

    def __init__(self, tokenizer, every: int, depth: int = 20, max_queries: int = 100, weight: float = 0.5,
                 languages=KOLIBRI_LANGUAGES, encoder: E5Encoder | None = None):
        if every < 1:
            raise ValueError(f"learning-curve evaluation every {every} steps: must be >= 1")
        self.tokenizer, self.every, self.weight = tokenizer, every, weight
        encoder = encoder or E5Encoder(batch_size=EVAL_BATCH_SIZE)
        self.lists = {lang: dense_dev_lists(lang, depth, max_queries, encoder) for lang in languages}
        self.logged = None

    def _log(self, out: Path) -> Path:
        file = Path(out) / CURVE_LOG
        file.parent.mkdir(parents=True, exist_ok=True)
        if self.logged is None:
            self.logged = {record["step"] for record in read_curve(out)}
        return file

    def before_step(self, trainer, step: int) -> None:
        if step % self.every == 0:
            self.evaluate(trainer, step)

    def after_training(self, trainer) -> None:
        self.evaluate(trainer, trainer.step)

    def evaluate(self, trainer, step: int) -> None:
        file = self._log(trainer.out)
        if step in self.logged:
            return
        model = trainer.unwrapped()
        training = model.training
        model.eval()
        record = {"step": step, "weights": weights_digest(model), "alone": {}, "fused": {}, "mE5": {}}
        with autocast(trainer.precision, trainer.accelerator.device):
            for lang, lists in self.lists.items():
                for key, value in rerank_dev_lists(model, self.tokenizer, lists, trainer.precision,
                                                   self.weight).items():
                    record[key][lang] = value
        model.train(training)
        for key in ("alone", "fused", "mE5"):
            for level in ("low", "high"):
                values = [v for lang, v in record[key].items() if language(lang).resource == level]
                record[f"{level}_{key}"] = float(np.mean(values)) if values else None
        logger.warning("learning curve at step %d: low-resource %.3f alone, %.3f fused (mE5 %.3f)", step,
                       record["low_alone"], record["low_fused"], record["low_mE5"])
        with open(file, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.logged.add(step)
