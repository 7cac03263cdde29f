"""Dense retrieval and re-scoring with multilingual-e5 on pyterrier-dr.

``E5Encoder`` is pyterrier-dr's ``E5`` (the ``"query: "``/``"passage: "`` prompts, normalised mean-pooled
embeddings) over the embedded multilingual-e5-small, with this package's precision setting and text policy.
``DenseIndex`` is a ``FlexIndex`` of its document vectors that remembers the encoder which made them and keeps the
texts, so that a cross-encoder can read what it retrieves::

    e5 = E5Encoder()
    index = DenseIndex("runs/e5-index", e5).index(docs)
    pipeline = index.retriever(num_results=100) % 20 >> OpticalReranker()
"""
from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyterrier as pt
import pyterrier_dr

from ..data.documents import TEXTS_FILE, checked_documents, folder_digest, read_texts
from ..util.device import autocast, inference_batch_size, infer_device, resolve_backend, resolve_precision
from ..util.io import write_folder_atomically
from .backbones import E5_SMALL, checked_model_path, quiet_loading
from .scoring import check_positive_int, clean_texts, mean_pool, sorted_batches

logger = logging.getLogger(__name__)
ENCODER_FILE = "optical_encoder.json"


class TextQueryEncoder(pyterrier_dr.BiQueryEncoder):
    """pyterrier-dr's query encoder, with each query read as text first (None as "", numbers in decimal): mixed types
    cannot be sorted for its de-duplication."""

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        if "query" in inp.columns:
            inp = inp.assign(query=clean_texts(inp["query"]))
        return super().transform(inp)


class E5Encoder(pyterrier_dr.E5):
    """pyterrier-dr's E5 bi-encoder over ``model_name`` (default: the embedded multilingual-e5-small).

    Args:
        model_name: a sentence-transformers or Hugging Face encoder folder, a hub id, or ``multilingual-e5-small``.
        batch_size: texts per forward pass; None: 16 on a CPU (the fastest there), 64 on a GPU.
        device: a torch device; None picks CUDA when available.
        max_length: tokens per text (longer texts are truncated).
        precision: ``"auto"`` (bf16 where the CPU has bf16 units), ``"fp32"``, ``"bf16"``, ``"fp16"``, or ``"int8"``
            (CPUs; OpenVINO int8 matrix products, quantised once and cached); embeddings are returned in float32.
        backend: ``"torch"`` (the default) or ``"openvino"`` (CPUs; fp32 or bf16 as ``precision`` says, and the only
            backend of int8, so the default when ``precision="int8"``; the ``openvino`` extra).
        text_field: the document column read.
        verbose: progress bars.
        cache: keep each text's vector in memory (per prompt), so that a query or document met again (by another
            pipeline over the same topics, or in another collection or split) is not encoded twice.

    Its ``query_encoder()``, ``doc_encoder()``, ``text_scorer()`` and ``scorer()`` are pyterrier-dr's.
    """

    query_prompt, doc_prompt = "query: ", "passage: "

    def __init__(self, model_name: str = E5_SMALL, batch_size: int | None = None, device=None, max_length: int = 256,
                 precision: str = "auto", text_field: str = "text", verbose: bool = False, cache: bool = False,
                 backend: str | None = None):
        batch_size = check_positive_int("batch_size", inference_batch_size(batch_size, device, 64))
        check_positive_int("max_length", max_length)
        self.precision_ = resolve_precision(precision, infer_device(device))
        self.backend_ = resolve_backend(backend, self.precision_, device)
        with quiet_loading():
            super().__init__(checked_model_path(model_name), batch_size=batch_size, text_field=text_field,
                             verbose=verbose, device=device)
        self.model_name, self.max_length, self.precision, self.backend = model_name, max_length, precision, backend
        self.cache, self._vectors = cache, {}  # (prompt, text) -> vector
        self.model.max_seq_length = min(max_length, self.model.max_seq_length or max_length)
        self.openvino_ = None
        if self.backend_ == "openvino":
            from .checkpoint import weights_digest
            from .openvino_backend import openvino_encoder

            encoder = self.model[0].auto_model
            # a pooler the checkpoint lacks is drawn anew at each load, and only the token states are read
            self.openvino_ = openvino_encoder(encoder, self.model.tokenizer, self.model.max_seq_length,
                                              weights_digest(encoder, unused=("pooler.",)), self.precision_,
                                              self.doc_prompt)

    def __repr__(self):
        return f"E5Encoder({self.model_name!r})"

    def description(self) -> dict:
        """What a vector depends on: the model, the prompts and the text length (stored with an index)."""
        return {"encoder": type(self).__name__, "model": str(self.model_name), "query_prompt": self.query_prompt,
                "doc_prompt": self.doc_prompt, "max_length": self.max_length}

    def _encode(self, texts, prompt: str, batch_size=None) -> np.ndarray:
        import torch
        from tqdm import tqdm

        progress = isinstance(texts, tqdm)  # pyterrier-dr passes a bar when verbose: sentence-transformers shows it
        if progress:
            texts.disable = True
        texts = [prompt + t for t in clean_texts(list(texts))]
        if not texts:
            return np.zeros((0, self.config.hidden_size), dtype=np.float32)
        if self.openvino_ is not None:
            return self._encode_openvino(texts, batch_size or self.batch_size)
        with torch.inference_mode(), autocast(self.precision_, self.device):
            vectors = self.model.encode(texts, batch_size=batch_size or self.batch_size, show_progress_bar=progress,
                                        normalize_embeddings=True, convert_to_numpy=False, convert_to_tensor=True)
        return vectors.float().cpu().numpy()

    def _encode_openvino(self, texts: list, batch_size: int) -> np.ndarray:
        """Normalised mean-pooled token states of the OpenVINO model, in length-sorted batches."""
        tokenizer = self.model.tokenizer
        encoded = tokenizer(texts, truncation=True, max_length=self.model.max_seq_length)
        rows = [{k: encoded[k][i] for k in encoded} for i in range(len(texts))]
        out = np.zeros((len(texts), self.config.hidden_size), dtype=np.float32)
        for batch in sorted_batches([len(r["input_ids"]) for r in rows], batch_size):
            padded = tokenizer.pad([rows[i] for i in batch], return_tensors="pt")
            states = self.openvino_(**padded).last_hidden_state
            out[batch] = mean_pool(states, padded["attention_mask"]).numpy()
        return out

    def score(self, queries, texts) -> np.ndarray:
        """Cosine of each ``(queries[i], texts[i])`` pair, float32 (the interface of ``OpticalReranker.score``)."""
        queries, texts = clean_texts(queries), clean_texts(texts)
        if len(queries) != len(texts):
            raise ValueError(f"{len(queries)} queries but {len(texts)} texts")
        unique = list(dict.fromkeys(queries))
        vectors = dict(zip(unique, self.encode_queries(unique)))
        return np.einsum("ij,ij->i", np.stack([vectors[q] for q in queries]), self.encode_docs(texts)) \
            if queries else np.zeros(0, dtype=np.float32)

    def query_encoder(self, verbose=None, batch_size=None) -> pt.Transformer:
        """Queries in, ``query_vec`` out (pyterrier-dr's, reading each query as text)."""
        return TextQueryEncoder(self, verbose=verbose, batch_size=batch_size)

    def encode_queries(self, texts, batch_size=None) -> np.ndarray:
        return self._cached_encode(texts, self.query_prompt, batch_size)

    def encode_docs(self, texts, batch_size=None) -> np.ndarray:
        return self._cached_encode(texts, self.doc_prompt, batch_size)

    def _cached_encode(self, texts, prompt: str, batch_size=None) -> np.ndarray:
        if not self.cache:
            return self._encode(texts, prompt, batch_size)
        texts = clean_texts(list(texts))
        new = [t for t in dict.fromkeys(texts) if (prompt, t) not in self._vectors]
        if new:
            self._vectors.update(((prompt, t), v) for t, v in zip(new, self._encode(new, prompt, batch_size)))
        if not texts:
            return np.zeros((0, self.config.hidden_size), dtype=np.float32)
        return np.stack([self._vectors[prompt, t] for t in texts])


class DenseIndex:
    """A pyterrier-dr ``FlexIndex`` of ``encoder``'s document vectors at ``path``, with the documents' texts.

    ``index(docs)`` builds it beside ``path`` and swaps it in whole (duplicate docnos are refused); opening it with
    another encoder, prompt or text length than the one that built it raises a ValueError naming both.
    """

    def __init__(self, path, encoder: E5Encoder | None = None, verbose: bool = False):
        self.path, self.verbose = Path(path), verbose
        self.encoder = encoder if encoder is not None else E5Encoder(verbose=verbose)
        self._texts = None

    def __repr__(self):
        return f"DenseIndex({str(self.path)!r}, {self.encoder!r})"

    def built(self) -> bool:
        return (self.path / ENCODER_FILE).is_file()

    def content_digest(self) -> str:
        """A digest of what the index holds (its documents and encoder): saved runs over it are keyed by it."""
        return folder_digest(self.path, (ENCODER_FILE, TEXTS_FILE))

    def index(self, docs) -> "DenseIndex":
        """Encode and index ``{"docno", "text"}`` dicts (an iterable, a DataFrame or a TSV/JSONL path); returns self."""
        def build(folder: Path):
            records = ({"docno": docno, "text": text}
                       for docno, text in checked_documents(docs, folder / TEXTS_FILE))
            first = next(records, None)  # pyterrier-dr fails obscurely on an empty collection: look first
            if first is None:
                raise ValueError(f"nothing to index into {self.path}: no documents")
            flex = pyterrier_dr.FlexIndex(str(folder / "flex"), verbose=self.verbose)
            (self.encoder.doc_encoder(verbose=self.verbose) >> flex.indexer(mode="overwrite")).index(
                itertools.chain([first], records))
            (folder / ENCODER_FILE).write_text(json.dumps(self.encoder.description(), indent=1), encoding="utf-8")

        write_folder_atomically(self.path, build, (ENCODER_FILE,), "dense index")
        self._texts = None
        return self

    def flex(self) -> pyterrier_dr.FlexIndex:
        """The underlying ``FlexIndex``, once the encoder is checked against the one that built it."""
        if not self.built():
            raise ValueError(f"dense index {self.path} is not built: call .index(docs) first")
        built_with = json.loads((self.path / ENCODER_FILE).read_text(encoding="utf-8"))
        if built_with != self.encoder.description():
            raise ValueError(f"dense index {self.path} was built with {built_with}, but is queried with "
                             f"{self.encoder.description()}: rebuild it, or query it with the encoder that built it")
        return pyterrier_dr.FlexIndex(str(self.path / "flex"), verbose=self.verbose)

    def texts(self) -> dict:
        """docno -> document text."""
        if self._texts is None:
            self._texts = read_texts(self.path)
        return self._texts

    def text_loader(self) -> pt.Transformer:
        """Adds ``text`` from this index to a result frame."""
        return pt.apply.generic(lambda df: df.assign(text=df["docno"].map(self.texts()).astype(object)),
                                transform_outputs=lambda cols: list(cols) + ["text"])

    def retriever(self, num_results: int = 100) -> pt.Transformer:
        """Queries in, the ``num_results`` nearest documents out (exact search), with their texts."""
        check_positive_int("num_results", num_results)
        flex = self.flex()
        return (self.encoder.query_encoder() >> flex.retriever(num_results=num_results, drop_query_vec=True)
                >> self.text_loader())

    def scorer(self) -> pt.Transformer:
        """Re-scores a result frame of this index's documents by cosine with the query (the stored vectors)."""
        return self.encoder.query_encoder() >> self.flex().scorer() >> pt.apply.generic(
            lambda df: df.drop(columns=["query_vec"], errors="ignore"))
