"""The one scoring core of every model here: pair encoding, length-sorted batches, the relevance logit and mean
pooling. Rerankers, teacher training, distillation and dev evaluation all go through it (ranking a scored frame is
``util.frames.ranked``)."""
from __future__ import annotations

import logging

import numpy as np
import pyterrier as pt

from ..data.text import as_text
from ..util.device import autocast

logger = logging.getLogger(__name__)


def clean_texts(values) -> list:
    """Each value as text (:func:`~pyterrier_optical.data.text.as_text`: numbers in decimal, missing ones ``""``); a
    single string is refused (it would be read character by character)."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"expected a list of texts, got the single string {values[:40]!r}: pass [{values[:20]!r}]")
    return [as_text(v) for v in values]


def model_max_length(model, tokenizer, requested: int) -> int:
    """``requested`` capped by the model's position embeddings and the tokenizer's limit."""
    limits = [requested, getattr(model.config, "max_position_embeddings", requested)]
    if 0 < getattr(tokenizer, "model_max_length", 0) < 10**6:
        limits.append(tokenizer.model_max_length)
    return min(limits)


_SHORTENED_BEFORE = set()  # queries already reported as shortened: training meets the same ones every epoch


def encode_pairs(tokenizer, queries: list, texts: list, max_length: int, **kwargs):
    """Tokenise (query, text) pairs to at most ``max_length`` tokens, truncating the text, never the query
    (a query longer than half of ``max_length`` is shortened to that half, with a warning)."""
    unique = list(dict.fromkeys(queries))
    limit = max_length // 2
    # measured in full, and shortened below: transformers' "Token indices sequence length" warning would be moot
    offsets = tokenizer(unique, add_special_tokens=False, return_offsets_mapping=True, verbose=False)["offset_mapping"]
    shortened = {q: q[:spans[limit][0]] for q, spans in zip(unique, offsets) if len(spans) > limit}
    if shortened:
        new = shortened.keys() - _SHORTENED_BEFORE
        if new:
            logger.warning("%d queries exceed %d tokens (half of max_length) and were shortened (each is reported "
                           "once)", len(new), limit)
            _SHORTENED_BEFORE.update(new)
        queries = [shortened.get(q, q) for q in queries]
    return tokenizer(queries, texts, truncation="only_second", max_length=max_length, **kwargs)


def relevance_logits(model, batch):
    """The relevance logit of each row of a tokenised ``batch`` (the last output unit of the head)."""
    return model(**batch).logits[:, -1]


def sorted_batches(lengths, batch_size: int) -> list:
    """Index arrays of at most ``batch_size`` items, longest first, so that each batch pads to similar lengths."""
    order = np.argsort(np.asarray(lengths), kind="stable")[::-1]
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def padded_batches(tokenizer, encoded, batch_size: int, sort: bool = True, verbose: bool = False,
                   desc: str = "scoring"):
    """``(indices, padded torch batch)`` of tokenised ``encoded`` rows, ``batch_size`` at a time: longest first
    when ``sort`` (each batch pads to similar lengths), else in order; a progress bar over the batches when
    ``verbose``."""
    n = len(encoded["input_ids"])
    rows = [{key: encoded[key][i] for key in encoded} for i in range(n)]
    if sort:
        batches = sorted_batches([len(r["input_ids"]) for r in rows], batch_size)
    else:
        batches = [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if verbose:
        batches = pt.tqdm(batches, desc=desc, unit="batch")
    for batch in batches:
        yield batch, tokenizer.pad([rows[i] for i in batch], return_tensors="pt")


def score_pairs(model, tokenizer, queries, texts, max_length: int, batch_size: int, verbose: bool = False,
                desc: str = "scoring", precision: str = "fp32") -> np.ndarray:
    """Relevance logits of ``(queries[i], texts[i])`` pairs as float32, in input order, scored in token-length-sorted
    batches without gradients on the model's device; ``max_length`` is capped by what the model can read.

    ``precision`` is a concrete one (see :func:`~pyterrier_optical.util.device.resolve_precision`): under bf16 or
    fp16 the forward passes run in autocast, one context for all batches (the weights do not change while scoring,
    so their reduced copies are made once per call)."""
    import torch

    queries, texts = clean_texts(queries), clean_texts(texts)
    if len(queries) != len(texts):
        raise ValueError(f"{len(queries)} queries but {len(texts)} texts")
    scores = np.zeros(len(texts), dtype=np.float32)
    if not texts:
        return scores
    device = next(model.parameters()).device
    encoded = encode_pairs(tokenizer, queries, texts, model_max_length(model, tokenizer, max_length))
    with torch.inference_mode(), autocast(precision, device):
        for batch, padded in padded_batches(tokenizer, encoded, batch_size, verbose=verbose, desc=desc):
            scores[batch] = relevance_logits(model, padded.to(device)).float().cpu().numpy()
    return scores


def mean_pool(states, mask, normalise: bool = True):
    """Mean of the token ``states`` (B, n, d) where ``mask`` (B, n) is set; L2-normalised unless ``normalise`` is
    False."""
    import torch

    m = mask.unsqueeze(-1).to(states.dtype)
    pooled = (states * m).sum(1) / m.sum(1).clamp_min(1)
    return torch.nn.functional.normalize(pooled, dim=-1) if normalise else pooled
