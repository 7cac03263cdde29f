"""What the indexes share: the transformer that adds the documents' texts an index keeps, the check of an index
path, and BM25's default parameters."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyterrier as pt

from ..data.documents import TEXTS_FILE, read_texts
from ..data.languages import LANGUAGES, stemmer_codes
from ..util.checks import check_text
from ..util.keys import Keyed, files_digest

BM25_K1, BM25_B, BM25_DEPTH = 0.9, 0.4, 1000  # Anserini's BM25 defaults, and the documents retrieved


def check_path(name: str, value) -> Path:
    """``value`` (a string or path-like, not empty) as a Path; a ValueError naming ``name`` otherwise."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ValueError(f"{name} must be a folder path (a string or pathlib.Path), got {value!r}"[:300])
    return Path(value)


def current_texts(folder, cached: tuple | None) -> tuple:
    """``(digest, {docno: text})`` of the texts an index keeps in ``folder``: ``cached`` when the file is the one it
    was read from, else read again (an index rebuilt by another object or process is never served stale)."""
    digest = files_digest(folder, (TEXTS_FILE,))
    return cached if cached is not None and cached[0] == digest else (digest, read_texts(folder))


def check_language(name: str, value) -> str:
    """``value`` when it is a language code of :data:`~pyterrier_optical.data.languages.LANGUAGES`."""
    if not isinstance(value, str) or value not in LANGUAGES:
        raise ValueError(f"{name} must be a language code of this package ({', '.join(sorted(LANGUAGES))}), got "
                         f"{value!r}"[:400])
    return value


def check_stemmer(name: str, value):
    """``value`` when it is ``"auto"``, None or the code of a language with a Snowball stemmer."""
    if value is not None and value != "auto" and (not isinstance(value, str) or value not in stemmer_codes()):
        raise ValueError(f"{name} must be 'auto', None or one of {', '.join(stemmer_codes())}, got {value!r}"[:400])
    return value


class TextLoader(Keyed, pt.Transformer):
    """Adds the ``text_field`` of each row's ``docno`` from ``index`` (an index that keeps its documents' texts:
    ``index.texts()``); a docno the index does not hold gets the empty text.

    Args:
        index: a :class:`~.bm25.MultilingualBM25` or :class:`~.dense.DenseIndex`.
        text_field: the column written.
    """

    schematic = {"label": "Texts"}

    def __init__(self, index, text_field: str = "text"):
        if not callable(getattr(index, "texts", None)) or not callable(getattr(index, "cache_key", None)):
            raise ValueError(f"index must be an index of this package that keeps its texts (MultilingualBM25, "
                             f"DenseIndex), got {index!r}"[:300])
        self.index = index
        self.text_field = check_text("text_field", text_field)

    def __repr__(self):
        return f"{self.index!r}.text_loader({self.text_field!r})"

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        pt.validate.columns(inp, includes=["docno"])
        return inp.assign(**{self.text_field: inp["docno"].map(self.index.texts()).fillna("").astype(object)})

    def fuse_rank_cutoff(self, k: int):
        return pt.RankCutoff(k) >> self

    def subtransformers(self) -> dict:
        """None: the index is read, not run as a stage (PyTerrier would take an indexer for one)."""
        return {}
