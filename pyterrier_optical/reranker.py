"""``OpticalReranker``: a cross-encoder over (query, document text) as a PyTerrier transformer."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyterrier as pt

from .model import DEFAULT_MODEL, encode_pairs, infer_device, load_cross_encoder, model_max_length, save_checkpoint


def clean_texts(values) -> list:
    """Texts as ``str``; NaN, None and other non-strings become ``""``."""
    return [v if isinstance(v, str) else "" for v in values]


class OpticalReranker(pt.Transformer):
    """Scores (query, document) pairs with a cross-encoder and ranks each query's documents.

    Args:
        model: a reranker checkpoint folder, a Hugging Face hub id or local path, a loaded
            ``PreTrainedModel`` (then give ``tokenizer``), or an embedded reranker built from the shipped data on
            first use: ``"optical-default"`` (the English teacher), ``"optical-student"`` (the OPTICAL student),
            ``"optical-codeswitch-teacher"``, ``"optical-codeswitch-student"``.
        batch_size: pairs per forward pass.
        text_field: the document text column.
        query_field: the query column.
        device: a torch device; None picks CUDA when available.
        max_length: tokens per pair (capped by what the model can read); the document is truncated, never the
            query (a query longer than half of ``max_length`` is shortened to that half, with a warning).
        verbose: show a progress bar over the batches.
        tokenizer: the tokenizer of a loaded ``model``.
    """

    schematic = {"label": "OPTICAL"}

    def __init__(self, model=DEFAULT_MODEL, batch_size: int = 32, text_field: str = "text", query_field: str = "query",
                 device=None, max_length: int = 256, verbose: bool = True, tokenizer=None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_length < 8:
            raise ValueError(f"max_length must be >= 8, got {max_length}")
        self.model = model
        self.batch_size = batch_size
        self.text_field = text_field
        self.query_field = query_field
        self.device = device
        self.max_length = max_length
        self.verbose = verbose
        self.tokenizer = tokenizer
        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            self.model_, self.tokenizer_, self.metadata_ = load_cross_encoder(model, device)
        else:
            if tokenizer is None:
                raise ValueError("a loaded model needs its tokenizer: OpticalReranker(model, tokenizer=...)")
            self.model_, self.tokenizer_, self.metadata_ = model.to(infer_device(device)).eval(), tokenizer, {}
        self.device_ = next(self.model_.parameters()).device
        self.max_length_ = model_max_length(self.model_, self.tokenizer_, max_length)

    def __repr__(self):
        name = self.model if isinstance(self.model, str) else type(self.model).__name__
        return f"OpticalReranker({name!r})"

    __str__ = __repr__

    @classmethod
    def from_pretrained(cls, path, **kwargs) -> "OpticalReranker":
        """Load a checkpoint folder written by :meth:`save_pretrained` (or any cross-encoder folder / hub id)."""
        return cls(str(path), **kwargs)

    def save_pretrained(self, path, **metadata):
        """Write this reranker as a checkpoint folder (HF files + ``optical.json``), atomically."""
        meta = {**self.metadata_, "max_length": self.max_length, **metadata}
        return save_checkpoint(self.model_, self.tokenizer_, path, meta)

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        """Add ``score`` and ``rank`` to a result frame with query and text columns."""
        pt.validate.result_frame(inp, extra_columns=[self.query_field, self.text_field])
        scores = self.score(inp[self.query_field].tolist(), inp[self.text_field].tolist())
        out = inp.drop(columns=["score", "rank"], errors="ignore").assign(score=scores)
        out = pt.model.add_ranks(out)
        return out.sort_values(["qid", "rank"], kind="stable").reset_index(drop=True)

    def score(self, queries, texts, batch_size: int | None = None) -> np.ndarray:
        """Relevance logits of ``(queries[i], texts[i])`` pairs, float32; order follows the input."""
        import torch

        queries, texts = clean_texts(queries), clean_texts(texts)
        if len(queries) != len(texts):
            raise ValueError(f"{len(queries)} queries but {len(texts)} texts")
        scores = np.zeros(len(texts), dtype=np.float32)
        if not texts:
            return scores
        batch = encode_pairs(self.tokenizer_, queries, texts, self.max_length_)
        encoded = [{key: batch[key][i] for key in batch} for i in range(len(texts))]
        order = np.argsort([len(e["input_ids"]) for e in encoded], kind="stable")[::-1]
        size = batch_size or self.batch_size
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        if self.verbose:
            batches = pt.tqdm(batches, desc="OPTICAL", unit="batch")
        with torch.inference_mode():
            for batch in batches:
                padded = self.tokenizer_.pad([encoded[i] for i in batch], return_tensors="pt")
                logits = self.model_(**{k: v.to(self.device_) for k, v in padded.items()}).logits
                scores[batch] = logits[:, -1].float().cpu().numpy()
        return scores

    def rank(self, query: str, documents, top_k: int | None = None, return_documents: bool = False) -> list:
        """Documents sorted by score: ``[{"corpus_id", "score"[, "text"]}]``, like sentence-transformers."""
        documents = list(documents)
        scores = self.score([query] * len(documents), documents)
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [{"corpus_id": int(i), "score": float(scores[i]), **({"text": documents[i]} if return_documents else {})}
                for i in order]
