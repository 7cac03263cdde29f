"""``OpticalReranker``: a cross-encoder over (query, document text) as a PyTerrier transformer."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyterrier as pt

from ..util.device import inference_batch_size, infer_device, resolve_backend, resolve_precision
from ..util.frames import ranked
from .checkpoint import DEFAULT_MODEL, load_cross_encoder, weights_digest, write_checkpoint
from .scoring import check_positive_int, model_max_length, score_pairs


class OpticalReranker(pt.Transformer):
    """Scores (query, document) pairs with a cross-encoder and ranks each query's documents.

    Args:
        model: an embedded reranker built from the shipped data on first use — ``"optical-student"`` (the
            OPTICAL student, the default), ``"optical-teacher"`` (the English teacher it was distilled from),
            ``"optical-codeswitch-teacher"``, ``"optical-codeswitch-student"`` —, a reranker checkpoint folder, a
            Hugging Face hub id or local path, or a loaded ``PreTrainedModel`` (then give ``tokenizer``).
        batch_size: pairs per forward pass; None: 16 on a CPU (the fastest there), 32 on a GPU.
        text_field: the document text column.
        query_field: the query column.
        device: a torch device; None picks CUDA when available.
        max_length: tokens per pair (capped by what the model can read); the document is truncated, never the
            query (a query longer than half of ``max_length`` is shortened to that half, with a warning).
        verbose: show a progress bar over the batches.
        tokenizer: the tokenizer of a loaded ``model``.
        precision: ``"auto"`` (bf16 where the CPU or GPU has bf16 units, fp16 on a GPU without, else fp32), ``"fp32"``,
            ``"bf16"``, ``"fp16"``, or ``"int8"`` (CPUs; OpenVINO int8 matrix products, quantised once and cached);
            asking for one the hardware lacks is an error. Scores are float32 either way.
        backend: what runs the forward passes: ``"torch"`` (the default), or ``"openvino"`` (CPUs; the model
            converted to OpenVINO in seconds on load, fp32 or bf16 as ``precision`` says — about twice torch's speed
            here at the same scores — and the only backend of int8, so the default when ``precision="int8"``; the
            ``openvino`` extra).
    """

    schematic = {"label": "OPTICAL"}

    def __init__(self, model=DEFAULT_MODEL, batch_size: int | None = None, text_field: str = "text",
                 query_field: str = "query", device=None, max_length: int = 256, verbose: bool = True, tokenizer=None,
                 precision: str = "auto", backend: str | None = None):
        batch_size = check_positive_int("batch_size", inference_batch_size(batch_size, device, 32))
        check_positive_int("max_length", max_length, 8)
        self.precision_ = resolve_precision(precision, infer_device(device))
        self.backend_ = resolve_backend(backend, self.precision_, device)
        self.model = model
        self.batch_size = batch_size
        self.text_field = text_field
        self.query_field = query_field
        self.device = device
        self.max_length = max_length
        self.verbose = verbose
        self.tokenizer = tokenizer
        self.precision = precision
        self.backend = backend
        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            self.model_, self.tokenizer_, self.metadata_ = load_cross_encoder(model, device, verbose)
        else:
            if tokenizer is None:
                raise ValueError("a loaded model needs its tokenizer: OpticalReranker(model, tokenizer=...)")
            self.model_, self.tokenizer_, self.metadata_ = model.to(infer_device(device)).eval(), tokenizer, {}
        self.max_length_ = model_max_length(self.model_, self.tokenizer_, max_length)
        self.scoring_model_ = self.model_
        if self.backend_ == "openvino":
            from .openvino_backend import openvino_cross_encoder

            self.scoring_model_ = openvino_cross_encoder(self.model_, self.tokenizer_, self.max_length_,
                                                         weights_digest(self.model_), self.precision_)

    def __repr__(self):
        name = self.model if isinstance(self.model, str) else type(self.model).__name__
        return f"OpticalReranker({name!r})"

    __str__ = __repr__

    @classmethod
    def from_pretrained(cls, path, **kwargs) -> "OpticalReranker":
        """Load a checkpoint folder written by :meth:`save_pretrained` (or any cross-encoder folder / hub id)."""
        return cls(str(path), **kwargs)

    def save_pretrained(self, path, **metadata):
        """Write this reranker as a checkpoint folder (HF files + ``pt_meta.json``), atomically; it loads with
        ``OpticalReranker(path)`` or ``pt.Artifact.load(path).reranker()``."""
        meta = {**self.metadata_, "max_length": self.max_length, **metadata}
        return write_checkpoint(self.model_, self.tokenizer_, path, meta)

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        """Add ``score`` and ``rank`` to a result frame with query and text columns."""
        pt.validate.result_frame(inp, extra_columns=[self.query_field, self.text_field])
        scores = self.score(inp[self.query_field].tolist(), inp[self.text_field].tolist())
        return ranked(inp.drop(columns=["score", "rank"], errors="ignore").assign(score=scores))

    def score(self, queries, texts, batch_size: int | None = None) -> np.ndarray:
        """Relevance logits of ``(queries[i], texts[i])`` pairs, float32; order follows the input."""
        if batch_size is not None:
            check_positive_int("batch_size", batch_size)
        return score_pairs(self.scoring_model_, self.tokenizer_, queries, texts, self.max_length_,
                           batch_size or self.batch_size, self.verbose, "OPTICAL", self.precision_)

    def rank(self, query: str, documents, top_k: int | None = None, return_documents: bool = False) -> list:
        """Documents sorted by score: ``[{"corpus_id", "score"[, "text"]}]``, like sentence-transformers."""
        documents = list(documents)
        scores = self.score([query] * len(documents), documents)
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [{"corpus_id": int(i), "score": float(scores[i]), **({"text": documents[i]} if return_documents else {})}
                for i in order]
