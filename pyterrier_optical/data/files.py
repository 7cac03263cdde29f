"""Readers for the project's line-based files (TSV, JSONL) that name the file and line of a bad record."""
from __future__ import annotations

import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)
UTF8_BOM = b"\xef\xbb\xbf"


class BadRecordError(ValueError):
    """A malformed line; the message names the file and the line number."""

    def __init__(self, path, line_number: int, problem: str):
        super().__init__(f"{path}:{line_number}: {problem}")
        self.path, self.line_number, self.problem = str(path), line_number, problem


def read_lines(path, on_error: str = "raise", skipped: list | None = None):
    """``(line_number, text)`` for each line of a UTF-8 file (a byte-order mark at its start is dropped).

    A line with invalid UTF-8 raises :class:`BadRecordError`, or with ``on_error="skip"`` is logged, its number
    appended to ``skipped``, and passed over.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM):]
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                report(BadRecordError(path, number, f"invalid UTF-8 at byte {e.start}"), on_error, skipped)


def report(error: BadRecordError, on_error: str, skipped: list | None):
    """Raise ``error``, or log it and note its line in ``skipped``."""
    if on_error == "raise":
        raise error
    logger.warning("skipped %s", error)
    if skipped is not None:
        skipped.append(error.line_number)


# the spellings a header may give each column (compared without case, spaces, "_" or "-": DOCNO, doc_id, Doc-ID)
COLUMN_NAMES = {
    "docno": ("docno", "docid", "id", "did", "pid", "documentid", "passageid", "documentno"),
    "text": ("text", "body", "contents", "content", "passage", "document", "doctext", "documenttext"),
    "qid": ("qid", "queryid", "id", "topicid", "topic", "queryno", "qno", "num", "number"),
    "query": ("query", "text", "querytext", "title", "question", "topic", "querystring"),
    "en": ("en", "english", "eng", "entext"),
    "other": ("other", "translation", "foreign", "othertext"),
    "positive": ("positive", "pos", "positivetext", "relevant", "docpos"),
    "negative": ("negative", "neg", "negativetext", "nonrelevant", "irrelevant", "docneg"),
}


def _spelling(name: str) -> str:
    return "".join(c for c in name.casefold() if c.isalnum())


def names_column(name: str, column: str) -> bool:
    """True when a header's field ``name`` names ``column`` in a common spelling (see :data:`COLUMN_NAMES`)."""
    return _spelling(name) in {_spelling(n) for n in (column, *COLUMN_NAMES.get(column, ()))}


def header_order(fields: list, columns: list) -> list | None:
    """The columns in the order a first line ``fields`` names them, when it is a header; None when it names none of
    them (a record). A line that names some columns and not others, or one column twice, is a ValueError saying
    which field names what: neither a header nor a record can be told for sure."""
    if len(fields) != len(columns):
        return None
    named = [[c for c in columns if names_column(f, c)] for f in fields]
    if not any(named):
        return None
    if all(names_column(f, c) for f, c in zip(fields, columns)):
        return list(columns)
    exact = [[c for c in columns if _spelling(f) == _spelling(c)] or n for f, n in zip(fields, named)]
    if all(len(n) == 1 for n in exact) and sorted(n[0] for n in exact) == sorted(columns):
        return [n[0] for n in exact]  # a header naming the columns in another order
    said = "; ".join(f"{f!r} names " + (" or ".join(n) if n else "no column") for f, n in zip(fields, named))
    spellings = "; ".join(f"{c}: {', '.join(COLUMN_NAMES.get(c, (c,)))}" for c in columns)
    raise ValueError(f"the first line may be a header or a record ({said}): a header names each column "
                     f"({', '.join(columns)}) once, spelled as one of ({spellings}), in any case; rename its fields, "
                     "or remove it if it is a header")


def read_records(path, columns, on_error: str = "raise", skipped: list | None = None, header: bool | None = None,
                 check=None, aliases: dict | None = None):
    """The records of :func:`enumerate_records`, without their line numbers."""
    for _, record in enumerate_records(path, columns, on_error, skipped, header, check, aliases):
        yield record


def enumerate_records(path, columns, on_error: str = "raise", skipped: list | None = None,
                      header: bool | None = None, check=None, aliases: dict | None = None):
    """Dicts with ``columns`` from a TSV (any suffix but ``.jsonl``/``.json``) or a JSON lines file.

    TSV lines hold the columns in order; the first line is a header when ``header`` is True, or (``None``) when
    each of its fields names a column in a common spelling, any case (``doc_id<TAB>text``, ``DOCNO<TAB>TEXT``,
    ``query_id<TAB>text``: :func:`header_order`; a header naming them in another order reorders the columns); a first
    line naming some columns and not others is refused as ambiguous, saying which. JSONL lines are objects holding
    every column. Empty lines are passed over. A malformed line raises :class:`BadRecordError` naming the file and
    line, or with ``on_error="skip"`` is logged and its number appended to ``skipped``. ``check(record)`` may raise a
    ValueError to reject a record the same way. ``aliases`` maps other JSON field names to columns (e.g.
    ``{"doc_id": "docno"}``). Yields ``(line number, record)``.
    """
    columns = list(columns)
    order = columns
    as_json = Path(path).suffix.lower() in (".jsonl", ".json")
    for number, line in read_lines(path, on_error, skipped):
        if number == 1 and not as_json and header is not False:
            if header:
                continue
            try:
                found = header_order(line.split("\t"), columns)
            except ValueError as e:
                raise BadRecordError(path, number, str(e)) from None  # not skipped: every line would be in doubt
            if found is not None:
                order = found
                continue
        if not line.strip():
            continue
        try:
            record = _parse(line, order, as_json, aliases or {})
            if check is not None:
                check(record)
        except ValueError as e:
            report(BadRecordError(path, number, str(e)), on_error, skipped)
            continue
        yield number, record


def _parse(line: str, columns: list, as_json: bool, aliases: dict) -> dict:
    if as_json:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"not a JSON object ({e.msg})") from None
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        for alias, column in aliases.items():
            if alias in obj and column not in obj:
                obj[column] = obj.pop(alias)
        missing = [c for c in columns if c not in obj]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        wrong = [c for c in columns if not isinstance(obj[c], str) and (isinstance(obj[c], bool) or
                                                                        not isinstance(obj[c], int))]
        if wrong:
            raise ValueError(", ".join(f"field {c!r} is {json.dumps(obj[c])[:40]}, not a string" for c in wrong))
        return {c: obj[c] if isinstance(obj[c], str) else str(obj[c]) for c in columns}  # integers (ids) as text
    fields = line.split("\t")
    if len(fields) != len(columns):
        raise ValueError(f"expected {len(columns)} tab-separated fields ({', '.join(columns)}), found {len(fields)}")
    return dict(zip(columns, fields))  # in the header's order, when it gave another
