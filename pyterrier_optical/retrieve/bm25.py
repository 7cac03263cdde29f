"""Multilingual BM25 on PISA, with Unicode tokenisation done in Python.

PISA's own tokenizer is ASCII-only (``Häuser`` -> ``h``, ``user``; Devanagari -> nothing), so documents and queries
are analysed here (:class:`~pyterrier_optical.data.text.Analyzer`) and PISA indexes and matches the resulting
terms (``toks_indexer(scale=1.0)`` and ``query_toks``): the scores equal PISA's BM25 on those terms.
"""
from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyterrier as pt

from ..data.documents import TEXTS_FILE, checked_documents, folder_digest
from ..data.text import Analyzer
from ..util.checks import check_bool, check_instance, check_number, check_positive_int, check_strings
from ..util.io import Marker, write_folder_atomically
from ..util.keys import Keyed, files_digest
from .texts import (BM25_B, BM25_DEPTH, BM25_K1, TextLoader, check_language, check_path, check_stemmer,
                    current_texts)

CONFIG_FILE = "optical_bm25.json"
# what tells this package's BM25 index from another folder: its settings (or, damaged, exactly its files)
INDEX_MARKER = Marker(CONFIG_FILE, {"lang": str, "stemmer": (str, type(None)), "stopwords": list, "num_docs": int},
                      files=(CONFIG_FILE, TEXTS_FILE, "pisa"), optional=("pisa.log",))


@contextlib.contextmanager
def native_output_to(log_file):
    """Send what native code prints (PISA's indexing chatter) to ``log_file``; yields the real stderr stream."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    real_err = os.fdopen(os.dup(2), "w")
    with open(log_file, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield real_err
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            real_err.close()


class MultilingualBM25(Keyed, pt.Indexer):
    """A PISA BM25 index over Python-analysed terms of one language, keeping the document texts.

    Args:
        path: the index folder.
        lang: language code of the documents (selects the stemmer with ``stemmer="auto"``).
        stemmer: ``"auto"``, ``None`` or a language code (see :class:`~pyterrier_optical.data.text.Analyzer`).
        stopwords: words to leave out of the index and the queries.
        overwrite: rebuild an existing index.
        verbose: progress bar while indexing.

    An existing index reopens with its stored analysis settings: ``MultilingualBM25(path)``.
    """

    unkeyed = {"path": "where the index is; what it holds is keyed (content_key)",
               "overwrite": "whether index() may replace an index; what the index holds is keyed (content_key)",
               "verbose": "a progress bar while indexing"}

    def __init__(self, path, lang: str | None = None, stemmer: str | None = "auto", stopwords=(),
                 overwrite: bool = False, verbose: bool = True):
        self.path = check_path("path", path)
        self.overwrite = check_bool("overwrite", overwrite)
        self.verbose = check_bool("verbose", verbose)
        if lang is not None:
            check_language("lang", lang)
        check_stemmer("stemmer", stemmer)
        stopwords = check_strings("stopwords", stopwords)
        stored = {} if overwrite else self.config()
        if stored and not overwrite:
            if lang is not None and lang != stored["lang"]:
                raise ValueError(f"index {self.path} was built for lang={stored['lang']!r}, not {lang!r}")
            lang, stemmer, stopwords = stored["lang"], stored["stemmer"], stored["stopwords"]
        self.lang = lang or "en"
        self.stopwords = stopwords
        self.analyzer = Analyzer(self.lang, stemmer, stopwords)
        self.stemmer = self.analyzer.stemmer  # resolved ("auto" -> the language's), as a built index stores it
        self._texts = None

    def __repr__(self):
        return f"MultilingualBM25({str(self.path)!r}, lang={self.lang!r})"

    def config(self) -> dict:
        """The stored settings of a built index ({} when not built)."""
        file = self.path / CONFIG_FILE
        if not file.exists():
            return {}
        try:
            stored = json.loads(file.read_text(encoding="utf-8"))
            if not isinstance(stored, dict) or "lang" not in stored:
                raise ValueError("no 'lang' setting")
        except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
            raise ValueError(f"{file} is corrupt ({e}): rebuild the index with overwrite=True") from None
        return stored

    def built(self) -> bool:
        return (self.path / CONFIG_FILE).exists()

    def content_digest(self) -> str:
        """A digest of what the index holds (its documents and settings): saved runs over it are keyed by it."""
        return folder_digest(self.path, (CONFIG_FILE, TEXTS_FILE))

    def content_key(self) -> dict:
        """The digest of the index's documents and settings (PISA's files are made from them)."""
        return {"documents": files_digest(self.path, (CONFIG_FILE, TEXTS_FILE))}

    def index_inputs(self):
        return [["docno", "text"]]

    def index(self, docs) -> "MultilingualBM25":
        """Index ``{"docno", "text"}`` dicts: an iterable, a DataFrame, or the path of a TSV (``docno<TAB>text``) or
        JSONL file (a bad line raises a ValueError naming file and line). Returns ``self``.

        The index is built in a folder beside ``path`` and renamed into place only when complete, so an overwrite
        that fails leaves the old index as it was. A docno given twice, a collection without documents, or one whose
        every text is empty (PISA would abort the interpreter) is refused before PISA sees it.
        """
        if self.built() and not self.overwrite:
            raise FileExistsError(f"index {self.path} exists; pass overwrite=True to rebuild it")
        write_folder_atomically(self.path, lambda folder: self._build(docs, folder), (INDEX_MARKER,), "BM25 index")
        self._texts = None
        return self

    def _build(self, docs, folder: Path):
        from pyterrier_pisa import PisaIndex

        count = 0
        with native_output_to(folder / "pisa.log") as err:
            def bar(stream):
                return pt.tqdm(stream, desc="BM25 indexing", unit="doc", disable=not self.verbose, file=err)

            def terms():
                nonlocal count
                for docno, text in checked_documents(docs, folder / TEXTS_FILE, bar):
                    count += 1
                    yield {"docno": docno, "toks": dict(collections.Counter(self.analyzer(text)))}

            stream, head = terms(), []
            for doc in stream:  # PISA aborts on a collection without any term: look before it starts
                head.append(doc)
                if doc["toks"]:
                    break
            else:
                raise ValueError(f"nothing to index into {self.path}: " + (
                    f"none of the {len(head)} documents has a word in its text" if head else "no documents"))
            PisaIndex(str(folder / "pisa"), stemmer="none", stops="none") \
                .toks_indexer(text_field="toks", scale=1.0).index(itertools.chain(head, stream))
        (folder / CONFIG_FILE).write_text(json.dumps({**self.analyzer.config(), "num_docs": count}))

    def texts(self) -> dict:
        """docno -> document text."""
        self._texts = current_texts(self.path, self._texts)
        return self._texts[1]

    def text_loader(self, text_field: str = "text") -> pt.Transformer:
        """A transformer adding each row's document text (for ``docno`` columns from elsewhere)."""
        return TextLoader(self, text_field)

    def bm25(self, k1: float = BM25_K1, b: float = BM25_B, num_results: int = BM25_DEPTH, include_text: bool = True,
             verbose: bool = False, threads: int = 1) -> "MultilingualBM25Retriever":
        """BM25 retrieval over this index."""
        return MultilingualBM25Retriever(self, k1, b, num_results, include_text, verbose, threads)


class MultilingualBM25Retriever(Keyed, pt.Transformer):
    """Queries in, ``qid, query, docno, score, rank`` (and ``text``) out.

    Args:
        index: a built :class:`MultilingualBM25`.
        k1: BM25's term-frequency saturation, a number >= 0.
        b: BM25's length normalisation, in [0, 1].
        num_results: documents per query, an integer >= 1.
        include_text: add the documents' ``text``.
        verbose: progress bar over the queries.
        threads: PISA's query threads.
    """

    schematic = {"label": "BM25"}
    unkeyed = {"verbose": "a progress bar",
               "threads": "queries are scored one by one whatever the number of threads (PISA's query parallelism)"}

    def __init__(self, index: MultilingualBM25, k1: float = BM25_K1, b: float = BM25_B, num_results: int = BM25_DEPTH,
                 include_text: bool = True, verbose: bool = False, threads: int = 1):
        self.index = check_instance("index", index, MultilingualBM25)
        self.k1 = check_number("k1", k1, 0.0)
        self.b = check_number("b", b, 0.0, 1.0)
        self.num_results = check_positive_int("num_results", num_results)
        self.include_text = check_bool("include_text", include_text)
        self.verbose = check_bool("verbose", verbose)
        self.threads = check_positive_int("threads", threads)
        if not index.built():
            raise ValueError(f"index {index.path} is not built: call .index(docs) first")
        self.opened_ = index.content_key()  # what the texts below and PISA's files were when opened
        self.texts_ = index.texts() if include_text else {}  # the texts of this very index, even if rebuilt later
        self.pisa_ = self._open()

    def _open(self):
        from pyterrier_pisa import PisaRetrieve

        with native_output_to(self.index.path / "pisa.log"):  # PISA builds its score bounds here, printing as it goes
            return PisaRetrieve(str(self.index.path / "pisa"), "bm25", num_results=self.num_results,
                                threads=self.threads, verbose=self.verbose, stops="none", toks_scale=1.0,
                                bm25_k1=self.k1, bm25_b=self.b)

    def __getstate__(self):  # PISA's retrieval context does not pickle (.parallel()): it is reopened on unpickling
        return {k: v for k, v in self.__dict__.items() if k != "pisa_"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.pisa_ = self._open()

    def __repr__(self):
        return f"BM25({self.index.lang}, k1={self.k1}, b={self.b}, num_results={self.num_results})"

    def content_key(self) -> dict:
        """The index's content when this retriever opened it (the index argument's key has what it holds now: a
        retriever of an index rebuilt since it was opened matches neither)."""
        return {"opened": self.opened_}

    __str__ = __repr__

    def subtransformers(self) -> dict:
        """None: the index is read, not run as a stage (PyTerrier would take an indexer for one)."""
        return {}

    def fuse_rank_cutoff(self, k: int):
        if k < self.num_results:
            return MultilingualBM25Retriever(self.index, self.k1, self.b, k, self.include_text, self.verbose,
                                             self.threads)

    def transform(self, queries: pd.DataFrame) -> pd.DataFrame:
        pt.validate.query_frame(queries, extra_columns=["query"])
        toks = [dict(collections.Counter(self.index.analyzer(q))) for q in queries["query"]]
        inp = queries.drop(columns=["query_toks"], errors="ignore").assign(query_toks=toks)
        keep = [bool(t) for t in toks]  # PISA has nothing to match for a query without terms
        res = self.pisa_.transform(inp[keep].reset_index(drop=True)) if any(keep) else None
        if res is None or res.empty:
            res = inp.iloc[:0].assign(docno=pd.Series(dtype=object), score=pd.Series(dtype=np.float64),
                                      rank=pd.Series(dtype=np.int64))
        res = res.drop(columns=["query_toks"])
        if self.include_text:
            res["text"] = res["docno"].map(self.texts_).astype(object)
        return res


def neighbours(texts: list, queries: list, k: int, rng, lang: str = "en", verbose: bool = False) -> list:
    """For each query i, ``k`` indices of ``texts`` other than i: its BM25 neighbours first, then random ones
    (distinct, drawn with ``rng``) when BM25 finds too few. Used to build negatives and candidate lists."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        index = MultilingualBM25(tmp + "/idx", lang=lang, verbose=False).index(
            {"docno": str(i), "text": t} for i, t in enumerate(texts))
        run = index.bm25(num_results=k + 1, include_text=False, verbose=verbose)(
            pd.DataFrame({"qid": [str(i) for i in range(len(queries))], "query": queries}))
    found = run.groupby("qid")["docno"].apply(lambda d: [int(x) for x in d]).to_dict()
    out = []
    for i in range(len(queries)):
        chosen = [j for j in found.get(str(i), []) if j != i][:k]
        while len(chosen) < min(k, len(texts) - 1):
            j = rng.randrange(len(texts))
            if j != i and j not in chosen:
                chosen.append(j)
        out.append(chosen)
    return out
