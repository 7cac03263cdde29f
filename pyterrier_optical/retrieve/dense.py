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
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyterrier as pt
import pyterrier_alpha as pta
import pyterrier_dr

from ..data.documents import TEXTS_FILE, checked_documents, folder_digest
from ..models.backbones import E5_PASSAGE_PROMPT, E5_QUERY_PROMPT, E5_SMALL, checked_model_path, quiet_loading
from ..models.checkpoint import weights_digest
from ..models.scoring import clean_texts, mean_pool, padded_batches
from ..util.checks import (check_bool, check_instance, check_optional_bool, check_optional_int, check_positive_int,
                           check_text, check_texts)
from ..util.device import autocast, inference_batch_size, infer_device, resolve_backend, resolve_precision
from ..util.frames import check_result_frame
from ..util.io import Marker, write_folder_atomically
from ..util.keys import (BATCHING, DEVICE, PROGRESS, Keyed, config_digest, digest, files_digest, tokenizer_digest,
                         weights_key)
from .texts import TextLoader, check_path, current_texts

logger = logging.getLogger(__name__)
ENCODER_FILE = "optical_encoder.json"
# what tells this package's dense index from another folder: its encoder's description (or, damaged, its files)
INDEX_MARKER = Marker(ENCODER_FILE, {"encoder": str, "model": str}, files=(ENCODER_FILE, TEXTS_FILE, "flex"))
FLEX_FILES = ("pt_meta.json", "docnos.npids", "vecs.f4")  # what pyterrier-dr's FlexIndex writes


ENCODER_UNKEYED = {"verbose": PROGRESS, "batch_size": BATCHING}


class TextQueryEncoder(Keyed, pyterrier_dr.BiQueryEncoder):
    """pyterrier-dr's query encoder, with each query read as text first (None as "", numbers in decimal): mixed types
    cannot be sorted for its de-duplication."""

    schematic = {"label": "E5 queries"}
    unkeyed = ENCODER_UNKEYED

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        if "query" in inp.columns:
            inp = inp.assign(query=clean_texts(inp["query"]))
        return super().transform(inp)


class TextDocEncoder(Keyed, pyterrier_dr.BiDocEncoder):
    """pyterrier-dr's document encoder over an :class:`E5Encoder`."""

    schematic = {"label": "E5 documents"}
    unkeyed = ENCODER_UNKEYED


class TextScorer(Keyed, pyterrier_dr.BiScorer):
    """pyterrier-dr's scorer (query and document texts or vectors in, their similarity out) over an
    :class:`E5Encoder`."""

    schematic = {"label": "E5 scorer"}
    unkeyed = ENCODER_UNKEYED

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        with pta.validate.any(inp) as v:  # pyterrier-dr's declares no qid, then ranks by it
            v.result_frame(extra_columns=["query", self.text_field])
            v.columns(includes=["qid", "query_vec", "doc_vec"])
            v.columns(includes=["qid", "query", "doc_vec"])
            v.columns(includes=["qid", "query_vec", self.text_field])
        return super().transform(check_result_frame(inp))


class E5Encoder(Keyed, pyterrier_dr.E5):
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

    query_prompt, doc_prompt = E5_QUERY_PROMPT, E5_PASSAGE_PROMPT
    schematic = {"label": "E5"}
    unkeyed = {"batch_size": BATCHING, "device": DEVICE, "verbose": PROGRESS,
               "cache": "keeps the vectors this same encoder computed, and returns them as it computed them"}

    def __init__(self, model_name: str = E5_SMALL, batch_size: int | None = None, device=None, max_length: int = 256,
                 precision: str = "auto", text_field: str = "text", verbose: bool = False, cache: bool = False,
                 backend: str | None = None):
        if not isinstance(model_name, (str, os.PathLike)) or not str(model_name):
            raise ValueError(f"model_name must be an encoder's folder or hub id, got {model_name!r}"[:300])
        infer_device(device)  # a device this machine lacks is named before anything is loaded
        batch_size = check_positive_int("batch_size", inference_batch_size(check_optional_int(
            "batch_size", batch_size), device, 64))
        check_positive_int("max_length", max_length)
        check_text("text_field", text_field)
        check_bool("verbose", verbose)
        check_bool("cache", cache)
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
            from ..models.checkpoint import weights_digest
            from ..models.openvino_backend import openvino_encoder

            encoder = self.model[0].auto_model
            # a pooler the checkpoint lacks is drawn anew at each load, and only the token states are read
            self.openvino_ = openvino_encoder(encoder, self.model.tokenizer, self.model.max_seq_length,
                                              weights_digest(encoder, unused=("pooler.",)), self.precision_,
                                              self.doc_prompt)

    def __repr__(self):
        return f"E5Encoder({str(self.model_name)!r})"

    def key_argument(self, name: str):
        return str(self.model_name) if name == "model_name" else super().key_argument(name)

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        """pyterrier-dr's dispatch by the columns given (encode queries, encode documents, or score), but scoring
        needs a qid (pyterrier-dr's declares none, then ranks by it)."""
        with pta.validate.any(inp) as v:
            v.query_frame(extra_columns=["query"], mode="query_encoder")
            v.document_frame(extra_columns=[self.text_field], mode="doc_encoder")
            v.result_frame(extra_columns=["query", self.text_field], mode="scorer")
            for columns in (["query", self.text_field], ["query_vec", self.text_field], ["query", "doc_vec"],
                            ["query_vec", "doc_vec"]):
                v.columns(includes=["qid", *columns], mode="scorer")
            v.columns(includes=["query"], mode="query_encoder")
            v.columns(includes=[self.text_field], mode="doc_encoder")
        if v.mode == "scorer":
            return self.scorer()(inp)
        return (self.query_encoder() if v.mode == "query_encoder" else self.doc_encoder())(inp)

    def content_key(self) -> dict:
        """The digests of the weights, the modules (pooling, normalisation) and the tokenizer actually loaded, the
        prompts, the token budget, and the concrete precision and backend."""
        encoder = self.model[0].auto_model
        return {"weights": weights_key(self.model, weights_digest), "config": config_digest(encoder.config),
                "modules": digest(str(self.model)), "tokenizer": tokenizer_digest(self.model.tokenizer),
                "prompts": [self.query_prompt, self.doc_prompt], "max_length": self.model.max_seq_length,
                "precision": self.precision_, "backend": self.backend_}

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
        out = np.zeros((len(texts), self.config.hidden_size), dtype=np.float32)
        for batch, padded in padded_batches(tokenizer, encoded, batch_size):
            states = self.openvino_(**padded).last_hidden_state
            out[batch] = mean_pool(states, padded["attention_mask"]).numpy()
        return out

    def score(self, queries, texts) -> np.ndarray:
        """Cosine of each ``(queries[i], texts[i])`` pair, float32 (the interface of ``OpticalReranker.score``)."""
        queries, texts = clean_texts(check_texts("queries", queries)), clean_texts(check_texts("texts", texts))
        if len(queries) != len(texts):
            raise ValueError(f"{len(queries)} queries but {len(texts)} texts")
        unique = list(dict.fromkeys(queries))
        vectors = dict(zip(unique, self.encode_queries(unique)))
        return np.einsum("ij,ij->i", np.stack([vectors[q] for q in queries]), self.encode_docs(texts)) \
            if queries else np.zeros(0, dtype=np.float32)

    def query_encoder(self, verbose=None, batch_size=None) -> pt.Transformer:
        """Queries in, ``query_vec`` out (pyterrier-dr's, reading each query as text)."""
        return TextQueryEncoder(self, verbose=check_optional_bool("verbose", verbose),
                                batch_size=check_optional_int("batch_size", batch_size))

    def doc_encoder(self, verbose=None, batch_size=None) -> pt.Transformer:
        """Documents in, ``doc_vec`` out (pyterrier-dr's)."""
        return TextDocEncoder(self, verbose=check_optional_bool("verbose", verbose),
                              batch_size=check_optional_int("batch_size", batch_size))

    def text_scorer(self, verbose=None, batch_size=None, sim_fn=None) -> pt.Transformer:
        """A result frame with query and document texts in, their similarity as ``score`` out (pyterrier-dr's)."""
        if sim_fn is not None:
            check_instance("sim_fn", sim_fn, pyterrier_dr.SimFn)
        return TextScorer(self, verbose=check_optional_bool("verbose", verbose),
                          batch_size=check_optional_int("batch_size", batch_size), sim_fn=sim_fn)

    def scorer(self, verbose=None, batch_size=None, sim_fn=None) -> pt.Transformer:
        """:meth:`text_scorer`."""
        return self.text_scorer(verbose, batch_size, sim_fn)

    def encode_queries(self, texts, batch_size=None) -> np.ndarray:
        """The normalised vectors of ``texts`` as queries (float32, one row each)."""
        return self._cached_encode(check_texts("texts", texts), self.query_prompt,
                                   check_optional_int("batch_size", batch_size))

    def encode_docs(self, texts, batch_size=None) -> np.ndarray:
        """The normalised vectors of ``texts`` as documents (float32, one row each)."""
        return self._cached_encode(check_texts("texts", texts), self.doc_prompt,
                                   check_optional_int("batch_size", batch_size))

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


class DenseIndex(Keyed):
    """A pyterrier-dr ``FlexIndex`` of ``encoder``'s document vectors at ``path``, with the documents' texts.

    ``index(docs)`` builds it beside ``path`` and swaps it in whole (duplicate docnos are refused); opening it with
    another encoder, prompt or text length than the one that built it raises a ValueError naming both.
    """

    unkeyed = {"path": "where the index is; what it holds is keyed (content_key)", "verbose": PROGRESS}

    def __init__(self, path, encoder: E5Encoder | None = None, verbose: bool = False):
        self.path, self.verbose = check_path("path", path), check_bool("verbose", verbose)
        if encoder is not None:
            check_instance("encoder", encoder, E5Encoder)
        self.encoder = encoder if encoder is not None else E5Encoder(verbose=verbose)
        self._texts = None

    def __repr__(self):
        return f"DenseIndex({str(self.path)!r}, {self.encoder!r})"

    def built(self) -> bool:
        return (self.path / ENCODER_FILE).is_file()

    def content_digest(self) -> str:
        """A digest of what the index holds (its documents and encoder): saved runs over it are keyed by it."""
        return folder_digest(self.path, (ENCODER_FILE, TEXTS_FILE))

    def content_key(self) -> dict:
        """The digests of the documents and of their vectors (made by the encoder of that time)."""
        return {"documents": files_digest(self.path, (ENCODER_FILE, TEXTS_FILE)),
                "vectors": files_digest(self.path / "flex", FLEX_FILES)}

    def index(self, docs) -> "DenseIndex":
        """Encode and index ``{"docno", "text"}`` dicts (an iterable, a DataFrame or a TSV/JSONL path); returns self."""
        def build(folder: Path):
            records = ({"docno": docno, "text": text}
                       for docno, text in checked_documents(docs, folder / TEXTS_FILE))
            first = list(itertools.islice(records, 2))  # pyterrier-dr fails obscurely on fewer than two: look first
            if not first:
                raise ValueError(f"nothing to index into {self.path}: no documents")
            if len(first) == 1:
                raise ValueError(f"{self.path}: a dense index needs at least two documents (pyterrier-dr's docno "
                                 f"store cannot hold one); got only {first[0]['docno']!r}")
            flex = pyterrier_dr.FlexIndex(str(folder / "flex"), verbose=self.verbose)
            (self.encoder.doc_encoder(verbose=self.verbose) >> flex.indexer(mode="overwrite")).index(
                itertools.chain(first, records))
            (folder / ENCODER_FILE).write_text(json.dumps(self.encoder.description(), indent=1), encoding="utf-8")

        write_folder_atomically(self.path, build, (INDEX_MARKER,), "dense index")
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
        self._texts = current_texts(self.path, self._texts)
        return self._texts[1]

    def text_loader(self) -> pt.Transformer:
        """Adds ``text`` from this index to a result frame."""
        return TextLoader(self)

    def retriever(self, num_results: int = 100) -> pt.Transformer:
        """Queries in, the ``num_results`` nearest documents out (exact search), with their texts."""
        return DenseRetriever(self, num_results)

    def scorer(self) -> pt.Transformer:
        """Re-scores a result frame of this index's documents by cosine with the query (the stored vectors)."""
        return DenseScorer(self)


class DenseRetriever(Keyed, pt.Transformer):
    """Queries in, the ``num_results`` nearest documents of a :class:`DenseIndex` out (exact search), with their
    texts: ``qid, query, docno, score, rank, text``.

    Args:
        index: a built :class:`DenseIndex`.
        num_results: documents per query, an integer >= 1.
    """

    schematic = {"label": "E5 retrieval"}

    def __init__(self, index: DenseIndex, num_results: int = 100):
        self.index = check_instance("index", index, DenseIndex)
        self.num_results = check_positive_int("num_results", num_results)
        self.opened_ = index.content_key()  # what the FlexIndex below reads (a rebuilt index is another key)
        self.pipeline_ = (index.encoder.query_encoder()
                          >> index.flex().retriever(num_results=num_results, drop_query_vec=True)
                          >> index.text_loader())

    def __repr__(self):
        return f"{self.index!r}.retriever({self.num_results})"

    def content_key(self) -> dict:
        """The index's content when this retriever opened it (the index argument's key has what it holds now)."""
        return {"opened": self.opened_}

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        pt.validate.query_frame(inp, extra_columns=["query"])
        return self.pipeline_(inp)

    def fuse_rank_cutoff(self, k: int):
        if k < self.num_results:
            return DenseRetriever(self.index, k)


class DenseScorer(Keyed, pt.Transformer):
    """A result frame of a :class:`DenseIndex`'s documents in, re-scored by the cosine of the query with their
    stored vectors.

    Args:
        index: a built :class:`DenseIndex`.
    """

    schematic = {"label": "E5 index scorer"}

    def __init__(self, index: DenseIndex):
        self.index = check_instance("index", index, DenseIndex)
        self.opened_ = index.content_key()  # what the FlexIndex below reads (a rebuilt index is another key)
        self.pipeline_ = (index.encoder.query_encoder() >> index.flex().scorer() >> pt.apply.generic(
            lambda df: df.drop(columns=["query_vec"], errors="ignore"),
            transform_outputs=lambda columns: [c for c in columns if c != "query_vec"]))

    def __repr__(self):
        return f"{self.index!r}.scorer()"

    def content_key(self) -> dict:
        """The index's content when this scorer opened it (the index argument's key has what it holds now)."""
        return {"opened": self.opened_}

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        pt.validate.result_frame(inp, extra_columns=["query"])
        check_result_frame(inp)
        if inp.empty:  # pyterrier-dr's scorer fails on a frame without rows
            return inp.drop(columns=["score", "rank"], errors="ignore").assign(
                score=pd.Series(dtype=np.float64), rank=pd.Series(dtype=np.int64))
        unknown = sorted(set(inp["docno"].astype(str)) - self.index.texts().keys())
        if unknown:  # pyterrier-dr would score them with another document's vector
            raise ValueError(f"{len(unknown)} docno(s) are not in dense index {self.index.path}: "
                             f"{', '.join(map(repr, unknown[:5]))}{' ...' if len(unknown) > 5 else ''}; its scorer "
                             "re-scores only the documents it holds")
        return self.pipeline_(inp)
