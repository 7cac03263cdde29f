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


def read_records(path, columns, on_error: str = "raise", skipped: list | None = None, header: bool | None = None,
                 check=None, aliases: dict | None = None):
    """The records of :func:`enumerate_records`, without their line numbers."""
    for _, record in enumerate_records(path, columns, on_error, skipped, header, check, aliases):
        yield record


def enumerate_records(path, columns, on_error: str = "raise", skipped: list | None = None,
                      header: bool | None = None, check=None, aliases: dict | None = None):
    """Dicts with ``columns`` from a TSV (any suffix but ``.jsonl``/``.json``) or a JSON lines file.

    TSV lines hold the columns in order; the first line is a header when ``header`` is True, or (``None``) when it
    equals the column names. JSONL lines are objects holding every column. Empty lines are passed over. A malformed
    line raises :class:`BadRecordError` naming the file and line, or with ``on_error="skip"`` is logged and its
    number appended to ``skipped``. ``check(record)`` may raise a ValueError to reject a record the same way.
    ``aliases`` maps other JSON field names to columns (e.g. ``{"doc_id": "docno"}``). Yields
    ``(line number, record)``.
    """
    columns = list(columns)
    as_json = Path(path).suffix.lower() in (".jsonl", ".json")
    for number, line in read_lines(path, on_error, skipped):
        if number == 1 and not as_json and (header or header is None and line.split("\t") == columns):
            continue
        if not line.strip():
            continue
        try:
            record = _parse(line, columns, as_json, aliases or {})
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
    return dict(zip(columns, fields))
