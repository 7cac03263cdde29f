"""Teacher training: a cross-encoder learns relevance from English (query, positive, negatives) examples.

Real runs use MS MARCO (``msmarco-passage/train/triples-small`` through ir_datasets, which needs the network).
Offline, :func:`english_task` builds a small-scale analogue from English sentences only: a shortened, shuffled copy
of a sentence is the query, the sentence is the relevant document, and its BM25 neighbours are the negatives.
"""
from __future__ import annotations

import collections
import logging
import random
from dataclasses import asdict, dataclass

import torch

from ..data.bitext import english_training_sentences
from ..data.files import read_records
from ..data.lexicon import shipped_lexicon
from ..models.cross_encoder import load_cross_encoder
from ..models.scoring import encode_pairs, relevance_logits
from ..retrieve.bm25 import neighbours
from ..retrieve.codeswitch import SwitchStats, check_ratio, code_switch
from ..models.recipes import TEACHER, TeacherRecipe
from .layers import set_trainable
from .loop import Trainer, batch_indices, digest, shard

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """A query with one relevant document and some non-relevant ones."""

    query: str
    positive: str
    negatives: tuple


def read_examples(path, on_error: str = "raise", skipped: list | None = None) -> list:
    """Examples from a TSV ``query<TAB>positive<TAB>negative`` (MS MARCO triples) or JSONL file; lines that
    share a (query, positive) are grouped, their negatives pooled."""
    groups = collections.defaultdict(list)
    for r in read_records(path, ["query", "positive", "negative"], on_error, skipped):
        groups[r["query"], r["positive"]].append(r["negative"])
    return [Example(q, p, tuple(n)) for (q, p), n in groups.items()]


def irds_examples(dataset_id: str, limit: int | None = None) -> list:
    """Examples from an ir_datasets id with docpairs, e.g. ``msmarco-passage/train/triples-small`` (downloads)."""
    from ..data.datasets import explain_download_failure, load

    dataset = load(dataset_id)  # an unknown id: a KeyError naming the closest known ones
    try:
        queries = {q.query_id: q.text for q in dataset.queries_iter()}
        docs = dataset.docs_store()
        examples = []
        for pair in dataset.docpairs_iter():
            examples.append(Example(queries[pair.query_id], docs.get(pair.doc_id_a).text,
                                    (docs.get(pair.doc_id_b).text,)))
            if limit and len(examples) >= limit:
                break
    except Exception as e:  # ir_datasets raises several kinds when a download cannot happen
        raise explain_download_failure(dataset_id, e) from e
    return examples


def shorten(sentence: str, rng: random.Random) -> str:
    """A query-like version of a sentence: 40-70% of its words (at least two), in a lightly shuffled order."""
    words = sentence.split()
    keep = max(2, round(len(words) * rng.uniform(0.4, 0.7)))
    chosen = sorted(rng.sample(range(len(words)), min(keep, len(words))))
    if len(chosen) > 2 and rng.random() < 0.5:
        i = rng.randrange(len(chosen) - 1)
        chosen[i], chosen[i + 1] = chosen[i + 1], chosen[i]
    return " ".join(words[i] for i in chosen)


def english_task(sentences, num_negatives: int = TEACHER.negatives, seed: int = TEACHER.training.seed,
                 verbose: bool = True) -> list:
    """The offline English-only teacher task: shortened sentence -> sentence, BM25 neighbours as negatives."""
    sentences = list(dict.fromkeys(s for s in sentences if isinstance(s, str) and len(s.split()) >= 3))
    rng = random.Random(seed)
    queries = [shorten(s, rng) for s in sentences]
    found = neighbours(sentences, queries, num_negatives, rng, verbose=verbose)
    return [Example(query, sentence, tuple(sentences[j] for j in negatives))
            for query, sentence, negatives in zip(queries, sentences, found)]


def code_switch_examples(examples, lexicons, p: float, seed: int = 0, fields=("query",)) -> tuple:
    """Examples with their English ``query`` and/or ``documents`` (positive and negatives) code-switched with
    ``lexicons`` (English -> other; a list is multilingual: a language drawn per word) at ratio ``p``.
    Returns ``(examples, SwitchStats)``; reproducible for a seed."""
    check_ratio(p)
    unknown = set(fields) - {"query", "documents"}
    if unknown or not fields:
        raise ValueError(f"code-switch fields must be among 'query' and 'documents', got {list(fields)}")
    total = SwitchStats()

    def switch(text, key):
        switched, stats = code_switch(text, lexicons, p, random.Random(f"{seed}:{key}"))
        total.add(stats)
        return switched

    out = []
    for i, ex in enumerate(examples):
        query = switch(ex.query, f"{i}:q") if "query" in fields else ex.query
        if "documents" in fields:
            ex = Example(ex.query, switch(ex.positive, f"{i}:p"),
                         tuple(switch(n, f"{i}:n{j}") for j, n in enumerate(ex.negatives)))
        out.append(Example(query, ex.positive, ex.negatives))
    return out, total


def listwise_loss(model, tokenizer, examples, num_negatives: int, max_length: int, device) -> torch.Tensor:
    """Softmax cross-entropy of the positive among itself and ``num_negatives`` negatives, per example."""
    queries, docs = [], []
    for ex in examples:
        negatives = (list(ex.negatives) * num_negatives)[:num_negatives] if ex.negatives else []
        if len(negatives) < num_negatives:
            raise ValueError(f"example {ex.query!r} has no negatives")
        for doc in [ex.positive, *negatives]:
            queries.append(ex.query)
            docs.append(doc)
    enc = encode_pairs(tokenizer, queries, docs, max_length, padding=True, return_tensors="pt").to(device)
    logits = relevance_logits(model, enc).float().view(len(examples), 1 + num_negatives)
    return torch.nn.functional.cross_entropy(logits, torch.zeros(len(examples), dtype=torch.long, device=device))


def head_parameter_names(model) -> list:
    """Parameters a fresh cross-encoder adds on top of a backbone (pooler and classifier)."""
    return [n for n, _ in model.named_parameters() if n.startswith(("classifier", "bert.pooler", "pooler"))]


def train_teacher(examples, out, recipe: TeacherRecipe = TEACHER, model=None, tokenizer=None,
                  restart: bool = False) -> str:
    """Train a cross-encoder teacher on ``examples`` with ``recipe``; returns the output folder (loadable by
    ``OpticalReranker``). Resumes from ``out/state`` when present.

    Args:
        examples: :class:`Example` items (code-switched first when ``recipe.codeswitch`` is set).
        out: output folder.
        recipe: a :class:`~pyterrier_optical.models.recipes.TeacherRecipe` (default: the embedded teacher's).
        model: where to start (default ``recipe.base_model``): a name, a path, or a loaded model with ``tokenizer``.
        restart: start over in ``out`` (an earlier run with other settings or data is otherwise refused).
    """
    examples = list(examples)
    if not examples:
        raise ValueError("no training examples")
    config = recipe.training
    meta = {"role": "teacher", "max_length": recipe.max_length, "languages": ["en"], "num_negatives": recipe.negatives}
    if recipe.codeswitch is not None:
        lexicons = [shipped_lexicon(lang, "from_en") for lang in recipe.codeswitch_languages]
        examples, stats = code_switch_examples(examples, lexicons, recipe.codeswitch, config.seed,
                                               recipe.codeswitch_fields)
        logger.warning("code-switched %s of %d examples into %s: %.1f%% of the switchable words",
                       " and ".join(recipe.codeswitch_fields), len(examples), ",".join(recipe.codeswitch_languages),
                       100 * stats.rate)
        meta["codeswitch"] = recipe.codeswitch
    torch.manual_seed(config.seed)
    if tokenizer is None:
        model, tokenizer, loaded = load_cross_encoder(model or recipe.base_model, "cpu")
        meta["base_model"] = loaded.get("base_model")
    else:
        meta["base_model"] = getattr(model.config, "name_or_path", None)
    # freeze_layers 0 keeps the embedding layer trainable (its word embeddings aside, with freeze_embeddings)
    set_trainable(model, recipe.freeze_layers, lower=not recipe.freeze_layers, upper=True,
                  word_embeddings=not recipe.freeze_embeddings)
    recipe_fields = {f"recipe.{k}": v for k, v in asdict(recipe).items() if k != "training"}
    data = {**recipe_fields, "examples": digest([(e.query, e.positive, e.negatives) for e in examples]),
            "start": str(meta["base_model"])}
    trainer = Trainer(model, tokenizer, out, config, head_parameter_names(model), {**meta, "examples": len(examples)},
                      data=data, restart=restart)

    def loss_fn(step, rank, world):
        batch = [examples[i] for i in shard(batch_indices(step, config.batch_size, len(examples), config.seed),
                                           rank, world)]
        return listwise_loss(trainer.model, tokenizer, batch, recipe.negatives, recipe.max_length,
                             trainer.accelerator.device)

    return str(trainer.run(loss_fn))


def offline_teacher_examples(recipe: TeacherRecipe = TEACHER, verbose: bool = True) -> list:
    """The offline English task over the English side of the shipped training split, for ``recipe``."""
    return english_task(english_training_sentences(), recipe.negatives, recipe.training.seed, verbose=verbose)
