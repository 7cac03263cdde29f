"""Unicode text analysis for BM25 and lexicons: NFC, case folding, word tokens, Snowball stemming, stop words."""
from __future__ import annotations

import unicodedata

import regex

from .languages import LANGUAGES, language, stemmer_codes

WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+")


def normalise(text) -> str:
    """NFC and case-folded text; non-strings (NaN, None) become ``""``."""
    return unicodedata.normalize("NFC", text).casefold() if isinstance(text, str) else ""


def words(text) -> list:
    """Normalised word tokens (letters, digits and combining marks of any script)."""
    return WORD.findall(normalise(text))


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
        self._stem = None
        if stemmer:
            import Stemmer

            self._stem = Stemmer.Stemmer(LANGUAGES[stemmer].stemmer).stemWord

    def __call__(self, text) -> list:
        terms = [w for w in words(text) if w not in self.stopwords]
        return [self._stem(w) for w in terms] if self._stem else terms

    def config(self) -> dict:
        return {"lang": self.lang, "stemmer": self.stemmer, "stopwords": sorted(self.stopwords)}
