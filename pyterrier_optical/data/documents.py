"""Documents as indexers receive them: one checked stream (unique docno strings, texts by the one text policy) and the
store of their texts that an index keeps beside itself (``texts.jsonl``), shared by the BM25 and the dense index."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyterrier as pt

from .files import read_records
from .text import as_text

TEXTS_FILE = "texts.jsonl"


def document_records(docs):
    """``{"docno", "text"}`` dicts from an iterable of dicts, a DataFrame, or the path of a TSV (``docno<TAB>text``)
    or JSONL file (a bad line raises a ValueError naming file and line)."""
    if isinstance(docs, (str, os.PathLike)):
        return read_records(docs, ["docno", "text"])
    if isinstance(docs, pd.DataFrame):
        pt.validate.document_frame(docs, extra_columns=["text"])
        return docs.to_dict("records")
    return docs


def checked_documents(docs, texts_file: Path, bar=None):
    """Yield ``(docno, text)`` for each document while writing them to ``texts_file``. A document without a docno
    string or without a ``text`` field (None is an empty text), or a docno given twice, raises a ValueError naming the
    positions. ``bar`` wraps the stream (a
    progress bar) when given."""
    seen = {}
    with open(texts_file, "w", encoding="utf-8") as out:
        for i, doc in enumerate(bar(document_records(docs)) if bar else document_records(docs), start=1):
            docno = doc.get("docno") if isinstance(doc, dict) else None
            if not isinstance(docno, str) or not docno:
                got = "none" if docno is None else f"{type(docno).__name__} {docno!r}"
                raise ValueError(f"document #{i}: docno must be a non-empty string, got {got} (write docnos as text, "
                                 f"e.g. frame.astype({{'docno': str}})): {str(doc)[:200]}")
            if docno in seen:
                raise ValueError(f"docno {docno!r} is given twice (documents #{seen[docno]} and #{i}); "
                                 "docnos must be unique")
            seen[docno] = i
            if "text" not in doc:  # as a frame without a text column is refused
                raise ValueError(f"document #{i} ({docno!r}) has no 'text' field: {str(doc)[:200]}")
            text = as_text(doc["text"])
            out.write(json.dumps([docno, text], ensure_ascii=False) + "\n")
            yield docno, text


def read_texts(folder: Path) -> dict:
    """docno -> text, as :func:`checked_documents` stored them in ``folder``."""
    with open(Path(folder) / TEXTS_FILE, encoding="utf-8") as f:
        return dict(json.loads(line) for line in f)


def folder_digest(folder: Path, names) -> str:
    """A SHA-256 of the files ``names`` of ``folder`` (a missing one counts as empty): an index's content, such as
    its stored texts and settings, for keying what was computed from it."""
    import hashlib

    digest = hashlib.sha256()
    for name in names:
        file = Path(folder) / name
        digest.update(name.encode())
        if file.is_file():
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]
