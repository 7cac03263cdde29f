"""``OpticalReranker``: a cross-encoder over (query, document text) as a PyTerrier transformer."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyterrier as pt

from ..models.checkpoint import weights_digest, write_checkpoint
from ..models.cross_encoder import DEFAULT_MODEL, load_cross_encoder
from ..models.registry import resolve_name
from ..models.scoring import model_max_length, score_pairs
from ..util.checks import check_bool, check_optional_int, check_positive_int, check_text, check_texts
from ..util.device import inference_batch_size, infer_device, resolve_backend, resolve_precision
from ..util.frames import check_result_frame, ranked
from ..util.keys import BATCHING, DEVICE, PROGRESS, Keyed, config_digest, tokenizer_digest, weights_key


class OpticalReranker(Keyed, pt.Transformer):
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
            converted to OpenVINO in seconds on load, fp32 or bf16 as ``precision`` says — at the same scores
            about twice torch's speed in fp32, 1.45x in bf16 — and the only backend of int8, so the default when
            ``precision="int8"``; the ``openvino`` extra).
    """

    schematic = {"label": "OPTICAL"}
    unkeyed = {"batch_size": BATCHING, "device": DEVICE, "verbose": PROGRESS}

    def __init__(self, model=DEFAULT_MODEL, batch_size: int | None = None, text_field: str = "text",
                 query_field: str = "query", device=None, max_length: int = 256, verbose: bool = True, tokenizer=None,
                 precision: str = "auto", backend: str | None = None):
        named = isinstance(model, (str, os.PathLike))
        if not named and not hasattr(model, "state_dict"):
            raise ValueError(f"model must be a model name, a folder or a loaded PreTrainedModel, got {model!r}"[:300])
        if named and tokenizer is not None:
            raise ValueError(f"tokenizer is for a loaded model; {str(model)!r} loads its own, got "
                             f"tokenizer={tokenizer!r}"[:300])
        infer_device(device)  # a device this machine lacks is named before anything is loaded
        batch_size = check_positive_int("batch_size", inference_batch_size(check_optional_int(
            "batch_size", batch_size), device, 32))
        check_text("text_field", text_field)
        check_text("query_field", query_field)
        check_positive_int("max_length", max_length, 8)
        check_bool("verbose", verbose)
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
        if named:
            folder, hint = resolve_name(model, verbose)
            self.model_, self.tokenizer_, self.metadata_ = load_cross_encoder(folder, device, hint)
        else:
            if tokenizer is None:
                raise ValueError("a loaded model needs its tokenizer: OpticalReranker(model, tokenizer=...)")
            self.model_, self.tokenizer_, self.metadata_ = model.to(infer_device(device)).eval(), tokenizer, {}
        self.max_length_ = model_max_length(self.model_, self.tokenizer_, max_length)
        self.scoring_model_ = self.model_
        if self.backend_ == "openvino":
            from ..models.openvino_backend import openvino_cross_encoder

            self.scoring_model_ = openvino_cross_encoder(self.model_, self.tokenizer_, self.max_length_,
                                                         weights_digest(self.model_), self.precision_)

    def __repr__(self):
        name = self.model if isinstance(self.model, str) else type(self.model).__name__
        return f"OpticalReranker({name!r})"

    __str__ = __repr__

    def key_argument(self, name: str):
        if name == "model" and not isinstance(self.model, str):
            return str(self.model) if isinstance(self.model, os.PathLike) else f"a loaded {type(self.model).__name__}"
        if name == "tokenizer":  # what it does is in content_key
            return None if self.tokenizer is None else f"a loaded {type(self.tokenizer).__name__}"
        return super().key_argument(name)

    def content_key(self) -> dict:
        """The digests of the weights, the model config and the tokenizer actually loaded, the token budget the
        model allows, and the concrete precision and backend: a checkpoint saved again at the same path with other
        weights is another key."""
        return {"weights": weights_key(self.model_, weights_digest), "config": config_digest(self.model_.config),
                "tokenizer": tokenizer_digest(self.tokenizer_), "max_length": self.max_length_,
                "precision": self.precision_, "backend": self.backend_}

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
        check_result_frame(inp, self.query_field)
        scores = self.score(inp[self.query_field].tolist(), inp[self.text_field].tolist())
        return ranked(inp.drop(columns=["score", "rank"], errors="ignore").assign(score=scores))

    def score(self, queries, texts, batch_size: int | None = None) -> np.ndarray:
        """Relevance logits of ``(queries[i], texts[i])`` pairs, float32; order follows the input."""
        check_texts("queries", queries)
        check_texts("texts", texts)
        check_optional_int("batch_size", batch_size)
        return score_pairs(self.scoring_model_, self.tokenizer_, queries, texts, self.max_length_,
                           batch_size or self.batch_size, self.verbose, "OPTICAL", self.precision_)

    def rank(self, query: str, documents, top_k: int | None = None, return_documents: bool = False) -> list:
        """Documents sorted by score: ``[{"corpus_id", "score"[, "text"]}]``, like sentence-transformers."""
        if not isinstance(query, str):
            raise ValueError(f"query must be a string, got {query!r}"[:300])
        check_texts("documents", documents)
        check_optional_int("top_k", top_k)
        check_bool("return_documents", return_documents)
        documents = list(documents)
        scores = self.score([query] * len(documents), documents)
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [{"corpus_id": int(i), "score": float(scores[i]), **({"text": documents[i]} if return_documents else {})}
                for i in order]
