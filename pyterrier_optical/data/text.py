"""Unicode text analysis for BM25 and lexicons: invisible format characters, NFC, case folding, word tokens, Snowball
stemming, stop words. Documents, queries and lexicon entries go through the same :func:`normalise`."""
from __future__ import annotations

import math
import numbers
import unicodedata

import pandas as pd
import regex

from .languages import LANGUAGES, language, stemmer_codes

# ZWNJ after an Arabic-script letter (Persian "books": the word, ZWNJ, the plural suffix) separates the parts of a word
# as a space would, as Lucene's Persian analysis reads it; elsewhere (Indic half forms, eyelash ra) ZWNJ and ZWJ are
# only spelling variants.
_SEPARATING_ZWNJ = r"(?<=\p{Script=Arabic}\p{M}*)\u200c"
# Unicode's default-ignorable code points: soft hyphen, zero-width space, ZWJ/ZWNJ, word joiner, BOM, bidi controls,
# variation selectors...: invisible, they split or change words that read the same
INVISIBLE = regex.compile(rf"(?!{_SEPARATING_ZWNJ})\p{{Default_Ignorable_Code_Point}}")
SEPARATING_ZWNJ = regex.compile(_SEPARATING_ZWNJ)
_LETTERS = r"[\p{L}\p{N}\p{M}]"
# a word: letters, digits and combining marks of any script, and the invisible characters inside it (so that a word
# found in raw text, as code-switching and word-by-word translation find them, is the word normalise() reads)
WORD = regex.compile(rf"{_LETTERS}+(?:(?:{INVISIBLE.pattern})+{_LETTERS}+)*")


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


def clean(text) -> str:
    """The text of :func:`as_text` with its invisible format characters normalised, then NFC: soft hyphens,
    zero-width spaces, word joiners, byte-order marks, bidi controls and variation selectors removed, and ZWJ/ZWNJ
    where they only choose a glyph (``"कार्\\u200dयालय"`` is ``"कार्यालय"``); a ZWNJ between the parts of an
    Arabic-script word becomes a space, as it separates them (``"کتاب\\u200cها"``). The one normalisation of
    documents, queries and lexicons, before case folding."""
    text = as_text(text)
    if text.isascii():
        return text
    text = INVISIBLE.sub("", text)
    text = SEPARATING_ZWNJ.sub(" ", text)
    return unicodedata.normalize("NFC", text)


def normalise(text) -> str:
    """:func:`clean` and case-folded text (NFC again: folding may decompose a letter)."""
    text = clean(text).casefold()
    return text if text.isascii() else unicodedata.normalize("NFC", text)


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
