"""Unicode text analysis for BM25 and lexicons: NFC, case folding, word tokens, Snowball stemming, stop words."""
from __future__ import annotations

import math
import numbers
import unicodedata

import pandas as pd
import regex

from .languages import LANGUAGES, language, stemmer_codes

WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+")


def as_text(value) -> str:
    """``value`` as the text it stands for: a string as it is, a number in decimal (the query ``404`` is "404"; an
    integral float such as ``404.0``, which pandas makes of integers beside a missing value, is "404"), UTF-8 bytes
    decoded; a missing value (None, NaN, pandas NA) is ``""``. Anything else is refused, never read as ``""``."""
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"bytes that are not UTF-8 text (at byte {e.start}): {value[:40]!r}") from None
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        if isinstance(value, numbers.Real) and math.isnan(value):
            return ""
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return str(int(value))
        return str(value)
    raise TypeError(f"cannot read a {type(value).__name__} as text: {str(value)[:60]!r}")


def normalise(text) -> str:
    """NFC and case-folded text of :func:`as_text`."""
    return unicodedata.normalize("NFC", as_text(text)).casefold()


def words(text) -> list:
    """Normalised word tokens (letters, digits and combining marks of any script)."""
    return WORD.findall(normalise(text))


def _stemmer(code: str | None):
    """The ``stemWord`` function of the Snowball stemmer of ``code`` (None: no stemming)."""
    if not code:
        return None
    import Stemmer

    return Stemmer.Stemmer(LANGUAGES[code].stemmer).stemWord


class Analyzer:
    """Turns text into index terms for one language.

    Args:
        lang: a language code of :data:`pyterrier_optical.languages.LANGUAGES`.
        stemmer: ``"auto"`` (the language's Snowball stemmer if it has one), ``None`` (no stemming), or the
            code of a language whose Snowball stemmer to use.
        stopwords: words to drop (compared after normalisation, before stemming).
    """

    def __init__(self, lang: str, stemmer: str | None = "auto", stopwords=()):
        self.lang = language(lang).code
        if stemmer == "auto":
            stemmer = self.lang if LANGUAGES[self.lang].stemmer else None
        if stemmer is not None and (stemmer not in LANGUAGES or not LANGUAGES[stemmer].stemmer):
            raise ValueError(f"no Snowball stemmer for {stemmer!r}; supported codes: {', '.join(stemmer_codes())}")
        self.stemmer = stemmer
        self.stopwords = frozenset(normalise(w) for w in stopwords)
        self._stem = _stemmer(stemmer)

    def __getstate__(self):  # a PyStemmer stemmer does not pickle: it is made again on unpickling
        return {**self.__dict__, "_stem": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._stem = _stemmer(self.stemmer)

    def __call__(self, text) -> list:
        terms = [w for w in words(text) if w not in self.stopwords]
        return [self._stem(w) for w in terms] if self._stem else terms

    def config(self) -> dict:
        return {"lang": self.lang, "stemmer": self.stemmer, "stopwords": sorted(self.stopwords)}
