"""``DenseReranker``: a bi-encoder (multilingual-e5 style) scoring each document by cosine with the query."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyterrier as pt

from ..util.device import autocast, infer_device, resolve_precision
from ..util.frames import ranked
from .backbones import E5_SMALL, checked_model_path
from .scoring import check_positive_int, clean_texts, mean_pool, model_max_length, sorted_batches


class DenseReranker(pt.Transformer):
    """Reranks by the cosine of L2-normalised mean-pooled embeddings, as multilingual-e5 is used for retrieval.

    Args:
        model: a Hugging Face encoder (hub id or path); default the embedded multilingual-e5-small.
        batch_size: texts per forward pass.
        device: a torch device; None picks CUDA when available.
        max_length: tokens per text (longer texts are truncated; capped by what the model can read).
        query_prefix, doc_prefix: the prefixes the model was trained with (``"query: "``, ``"passage: "`` for e5).
        text_field, query_field: the columns read.
        verbose: progress bar over the batches.
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``, as for ``OpticalReranker``; embeddings are pooled
            and returned in float32.

    Document embeddings are kept in memory, so documents seen before are not encoded again.
    """

    schematic = {"label": "Dense"}

    def __init__(self, model: str = E5_SMALL, batch_size: int = 64, device=None, max_length: int = 256,
                 query_prefix: str = "query: ", doc_prefix: str = "passage: ", text_field: str = "text",
                 query_field: str = "query", verbose: bool = False, precision: str = "auto"):
        from transformers import AutoModel, AutoTokenizer

        check_positive_int("batch_size", batch_size)
        check_positive_int("max_length", max_length)
        self.precision_ = resolve_precision(precision, infer_device(device))
        self.model, self.batch_size, self.device, self.max_length = model, batch_size, device, max_length
        self.precision = precision
        self.query_prefix, self.doc_prefix = query_prefix, doc_prefix
        self.text_field, self.query_field, self.verbose = text_field, query_field, verbose
        path = checked_model_path(model)
        self.device_ = infer_device(device)
        self.tokenizer_ = AutoTokenizer.from_pretrained(path)
        self.model_ = AutoModel.from_pretrained(path).to(self.device_).eval()
        self.max_length_ = model_max_length(self.model_, self.tokenizer_, max_length)
        self._doc_cache = {}

    def __repr__(self):
        return f"DenseReranker({self.model!r})"

    def encode(self, texts, prefix: str = "") -> np.ndarray:
        """L2-normalised mean-pooled embeddings of ``texts`` (with ``prefix``), float32 (n, dim)."""
        import torch

        texts = [prefix + t for t in clean_texts(texts)]
        out = np.zeros((len(texts), self.model_.config.hidden_size), dtype=np.float32)
        batches = sorted_batches([len(t) for t in texts], self.batch_size)
        if self.verbose:
            batches = pt.tqdm(batches, desc="Dense", unit="batch")
        with torch.inference_mode(), autocast(self.precision_, self.device_):
            for batch in batches:
                enc = self.tokenizer_([texts[i] for i in batch], padding=True, truncation=True,
                                      max_length=self.max_length_, return_tensors="pt").to(self.device_)
                states = self.model_(**enc).last_hidden_state.float()
                out[batch] = mean_pool(states, enc["attention_mask"]).cpu()
        return out

    def score(self, queries, texts) -> np.ndarray:
        """Cosine of ``(queries[i], texts[i])``, float32; order follows the input."""
        queries, texts = clean_texts(queries), clean_texts(texts)
        if len(queries) != len(texts):
            raise ValueError(f"{len(queries)} queries but {len(texts)} texts")
        unique = list(dict.fromkeys(queries))
        q = dict(zip(unique, self.encode(unique, self.query_prefix)))
        new = [t for t in dict.fromkeys(texts) if t not in self._doc_cache]
        self._doc_cache.update(zip(new, self.encode(new, self.doc_prefix)))
        return np.array([q[a] @ self._doc_cache[b] for a, b in zip(queries, texts)], dtype=np.float32)

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        """Add ``score`` (cosine) and ``rank`` to a result frame with query and text columns."""
        pt.validate.result_frame(inp, extra_columns=[self.query_field, self.text_field])
        scores = self.score(inp[self.query_field].tolist(), inp[self.text_field].tolist())
        return ranked(inp.drop(columns=["score", "rank"], errors="ignore").assign(score=scores))
