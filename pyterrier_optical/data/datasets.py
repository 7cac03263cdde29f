"""CLIR collections through ir_datasets (and so ``pt.get_dataset("irds:...")``).

- ``optical/ui/<lang>-en/<split>`` (Chromium), ``optical/ui-kolibri/<lang>-en/<split>`` (Kolibri) and
  ``optical/cldr/<lang>-en/<split>`` (Unicode CLDR phrases): the shipped bitext as a sentence-level CLIR
  collection; queries in ``lang``, documents the English strings of that split, one relevant document per query
  (its translation). Registered on import.
- :func:`register_local`: a user's own topics, documents and qrels (TSV, JSONL, TREC) under an id.
- :func:`clir_dataset_id`: the real ir_datasets ids of public CLIR collections, by language pair.
"""
from __future__ import annotations

import difflib
import hashlib
import logging
import re
from pathlib import Path

import ir_datasets
from ir_datasets.datasets.base import Dataset
from ir_datasets.formats import BaseDocs, BaseQrels, BaseQueries, GenericDoc, GenericQuery, TrecQrel
from ir_datasets.indices import Docstore

from .bitext import SPLITS, load_bitext, shipped_languages
from .files import BadRecordError, enumerate_records, read_lines
from .languages import language

NAME = "optical"
QRELS_DEFS = {1: "the document is the English source of the (translated) query"}
COLLECTIONS = {"ui": "chromium", "ui-kolibri": "kolibri", "cldr": "cldr"}  # collection -> bitext source
SOURCE_COLLECTIONS = {source: collection for collection, source in COLLECTIONS.items()}


class DatasetUnavailableError(OSError):
    """An ir_datasets collection that cannot be read here (usually: it must be downloaded, and we are offline)."""


def explain_download_failure(dataset_id: str, error: Exception) -> DatasetUnavailableError:
    """A short, actionable error for a collection that could not be loaded."""
    return DatasetUnavailableError(
        f"could not load ir_datasets collection {dataset_id!r} ({error.__class__.__name__}: {str(error)[:200]}). "
        "It is probably not downloaded yet and this machine cannot reach its source: run once on a machine with "
        "network (the files land in ~/.ir_datasets, or $IR_DATASETS_HOME, which you can copy here), or use the "
        "shipped collections (optical/ui/...) or register_local(...) for your own files.")


def stable_id(prefix: str, text: str) -> str:
    return f"{prefix}{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"


class _ListDocstore(Docstore):
    def __init__(self, docs: dict):
        super().__init__(GenericDoc)
        self._docs = docs

    def get_many_iter(self, doc_ids):
        return (self._docs[d] for d in doc_ids if d in self._docs)


class ListDocs(BaseDocs):
    """Documents held in memory."""

    def __init__(self, docs: list, lang: str | None):
        self._docs, self._lang = docs, lang

    def docs_iter(self):
        return iter(self._docs)

    def docs_count(self):
        return len(self._docs)

    def docs_cls(self):
        return GenericDoc

    def docs_namespace(self):
        return NAME

    def docs_lang(self):
        return self._lang

    def docs_store(self, field="doc_id", options=None):
        return _ListDocstore({d.doc_id: d for d in self._docs})


class ListQueries(BaseQueries):
    """Queries held in memory."""

    def __init__(self, queries: list, lang: str | None):
        self._queries, self._lang = queries, lang

    def queries_iter(self):
        return iter(self._queries)

    def queries_cls(self):
        return GenericQuery

    def queries_namespace(self):
        return NAME

    def queries_lang(self):
        return self._lang


class ListQrels(BaseQrels):
    """Relevance judgements held in memory."""

    def __init__(self, qrels: list, defs: dict):
        self._qrels, self._defs = qrels, defs

    def qrels_iter(self):
        return iter(self._qrels)

    def qrels_defs(self):
        return self._defs

    def qrels_cls(self):
        return TrecQrel


def bitext_collection(pairs, query_lang: str, doc_lang: str = "en") -> Dataset:
    """A sentence-level CLIR collection from ``(english, other)`` pairs: other-language queries, English documents."""
    docs = {}
    queries, qrels = [], []
    for en, other in pairs:
        docno = stable_id("en-", en)
        docs[docno] = GenericDoc(docno, en)
        qid = stable_id(f"{query_lang}-", other)
        queries.append(GenericQuery(qid, other))
        qrels.append(TrecQrel(qid, docno, 1, "0"))
    return Dataset(ListDocs(list(docs.values()), doc_lang), ListQueries(queries, query_lang),
                   ListQrels(qrels, QRELS_DEFS))


def _shipped_initializer(dsid, groups):
    collection, lang, split = groups
    source = COLLECTIONS[collection]
    pairs = load_bitext(lang, split, source)
    if not pairs:  # a language of the package without this source: said, not an empty collection
        having = [other for other in shipped_languages("cldr" if source == "cldr" else None)
                  if load_bitext(other, split, source)]
        raise ValueError(f"{dsid}: no {source} {split} bitext for {lang!r}; languages with one: {', '.join(having)}")
    return bitext_collection(pairs, lang)


def shipped_dataset_id(source: str, lang: str, split: str) -> str:
    """The ir_datasets id of ``lang``'s ``split`` of the shipped bitext ``source`` (chromium, kolibri, cldr)."""
    return f"{NAME}/{SOURCE_COLLECTIONS[source]}/{lang}-en/{split}"


def shipped_dataset_ids() -> list:
    """Every id of the shipped collections."""
    return [shipped_dataset_id(source, lang, split) for source in COLLECTIONS.values()
            for lang in shipped_languages("cldr" if source == "cldr" else None)
            if load_bitext(lang, "test", source) for split in SPLITS]


def load(dataset_id: str):
    """``ir_datasets.load``, with the closest known ids suggested for an unknown one."""
    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        known = list(dict.fromkeys(list(ir_datasets.registry) + shipped_dataset_ids()))
        close = difflib.get_close_matches(dataset_id, known, n=5, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise KeyError(f"unknown dataset id {dataset_id!r}{hint}") from None


_LOCAL = {}  # name -> (the files and languages it was registered with, the files' content digests)
logger = logging.getLogger(__name__)


def register_local(name: str, docs, queries=None, qrels=None, query_lang: str | None = None,
                   doc_lang: str | None = None) -> str:
    """Register local files under ``name`` (e.g. ``"ciral/ha-en/test"``) for ``ir_datasets.load`` and
    ``pt.get_dataset("irds:" + name)``.

    Args:
        docs: TSV ``docno<TAB>text`` or JSONL ``{"docno", "text"}`` (``doc_id`` also accepted).
        queries: TSV ``qid<TAB>query`` or JSONL ``{"qid", "query"}``.
        qrels: TREC qrels ``qid 0 docno relevance``.
        query_lang, doc_lang: language codes of the queries and the documents.

    Registering the same files again is a no-op, unless their contents changed: then the name is registered anew
    with what they hold now (a notebook that edits its qrels sees the edit). Other files under a registered name
    raise a ValueError.
    """
    paths = {}
    for kind, path in (("docs", docs), ("queries", queries), ("qrels", qrels)):
        if path is not None:
            if not Path(path).is_file():
                raise FileNotFoundError(f"register_local({name!r}): {kind} file not found: {path}")
            paths[kind] = str(Path(path).resolve())
    for code in (query_lang, doc_lang):
        if code is not None:
            language(code)
    signature = (tuple(sorted(paths.items())), query_lang, doc_lang)
    contents = {kind: hashlib.sha256(Path(path).read_bytes()).hexdigest() for kind, path in paths.items()}
    if name in _LOCAL:
        registered, registered_contents = _LOCAL[name]
        if registered != signature:
            raise ValueError(f"dataset id {name!r} is already registered with other files: {registered[0]}")
        if registered_contents == contents:
            return name
        logger.info("register_local(%r): %s changed since it was registered: registering what it holds now", name,
                    ", ".join(paths[kind] for kind in contents if contents[kind] != registered_contents.get(kind)))
    elif name in ir_datasets.registry or re.match(SHIPPED_PATTERN, name):
        raise ValueError(f"dataset id {name!r} already exists in ir_datasets (or is one of the shipped "
                         f"collections): choose another name")
    parts = []
    if "docs" in paths:
        parts.append(ListDocs([GenericDoc(r["docno"], r["text"]) for r in unique_records(
            paths["docs"], ["docno", "text"], {"doc_id": "docno"})], doc_lang))
    if "queries" in paths:
        parts.append(ListQueries([GenericQuery(r["qid"], r["query"]) for r in unique_records(
            paths["queries"], ["qid", "query"], {"query_id": "qid", "text": "query"})], query_lang))
    if "qrels" in paths:
        parts.append(ListQrels(_read_trec_qrels(paths["qrels"]), {}))
    ir_datasets.registry._registered.pop(name, None)  # changed contents: register() refuses to replace a name
    ir_datasets.registry.register(name, Dataset(*parts))
    _LOCAL[name] = (signature, contents)
    return name


def unique_records(path, fields: list, aliases: dict) -> list:
    """The records of a TSV/JSONL file; a repeated id (the first field) is a BadRecordError naming both lines."""
    seen, records = {}, []
    for number, record in enumerate_records(path, fields, aliases=aliases):
        key = record[fields[0]]
        if not key.strip():
            raise BadRecordError(path, number, f"empty {fields[0]}")
        if key in seen:
            raise BadRecordError(path, number, f"duplicate {fields[0]} {key!r} (first on line {seen[key]})")
        seen[key] = number
        records.append(record)
    if not records:
        raise ValueError(f"{path}: no records (expected {' and '.join(fields)} on each line)")
    return records


def _read_trec_qrels(path) -> list:
    qrels, seen = [], {}
    for number, line in read_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4 or not fields[3].lstrip("-").isdigit():
            raise BadRecordError(path, number, "expected 'qid iteration docno relevance'")
        pair, label = (fields[0], fields[2]), int(fields[3])
        if pair in seen and seen[pair][1] != label:
            raise BadRecordError(path, number, f"query {pair[0]!r} and document {pair[1]!r} were given the label "
                                               f"{seen[pair][1]} on line {seen[pair][0]}, {label} here: keep one")
        if pair not in seen:
            seen[pair] = (number, label)
            qrels.append(TrecQrel(fields[0], fields[2], label, fields[1]))
    return qrels


PUBLIC_COLLECTIONS = {
    # collection: (function of query_lang, doc_lang, split -> id, direction note)
    "clirmatrix": lambda q, d, s: f"clirmatrix/{d}/bi139-base/{q}/{s or 'test1'}",
    "wikiclir": lambda q, d, s: f"wikiclir/{d}" if q == "en" else None,
    "mmarco": lambda q, d, s: f"mmarco/v2/{q}/{s or 'dev/small'}" if q == d else None,
    "neumarco": lambda q, d, s: f"neumarco/{d}/{s or 'dev/small'}" if q == "en" else None,
    "miracl": lambda q, d, s: f"miracl/{q}/{s or 'dev'}" if q == d else None,
    "mr-tydi": lambda q, d, s: f"mr-tydi/{q}/{s or 'test'}" if q == d else None,
    "hc4": lambda q, d, s: f"hc4/{d}/{s or 'test'}" if q == "en" else None,
    "neuclir": lambda q, d, s: f"neuclir/1/{d}" if q == "en" else None,
}


def clir_dataset_id(collection: str, query_lang: str, doc_lang: str, split: str | None = None) -> str:
    """The ir_datasets id of a public collection for a language pair (they need network on first use).

    clirmatrix ids put the document language first; wikiclir, neumarco, hc4 and neuclir have English queries;
    mmarco, miracl and mr-tydi are monolingual.
    """
    if collection not in PUBLIC_COLLECTIONS:
        raise ValueError(f"unknown collection {collection!r}; known: {', '.join(PUBLIC_COLLECTIONS)}")
    dsid = PUBLIC_COLLECTIONS[collection](language(query_lang).code, language(doc_lang).code, split)
    if dsid is None:
        raise ValueError(f"{collection} has no {query_lang}->{doc_lang} setting")
    return dsid


SHIPPED_PATTERN = rf"^{NAME}/({'|'.join(COLLECTIONS)})/([a-z]{{2,3}})-en/({'|'.join(SPLITS)})$"
ir_datasets.registry.register_pattern(SHIPPED_PATTERN, _shipped_initializer)
