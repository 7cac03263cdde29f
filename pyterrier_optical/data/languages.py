"""Language metadata in one place: code, name, script, resource level, Snowball stemmer."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """A language the project knows: ISO 639-1 code (or 639-3 where there is none)."""

    code: str
    name: str
    script: str
    resource: str  # "high" or "low"
    stemmer: str | None = None  # a PyStemmer (Snowball) algorithm


LANGUAGES = {lang.code: lang for lang in [
    Language("en", "English", "Latin", "high", "english"),
    Language("de", "German", "Latin", "high", "german"),
    Language("fr", "French", "Latin", "high", "french"),
    Language("fi", "Finnish", "Latin", "high", "finnish"),
    Language("es", "Spanish", "Latin", "high", "spanish"),
    Language("ru", "Russian", "Cyrillic", "high", "russian"),
    Language("zh", "Chinese", "Han", "high"),
    Language("fa", "Persian", "Arabic", "high", "persian"),
    Language("sw", "Swahili", "Latin", "low"),
    Language("so", "Somali", "Latin", "low"),
    Language("yo", "Yoruba", "Latin", "low"),
    Language("ha", "Hausa", "Latin", "low"),
    Language("am", "Amharic", "Ethiopic", "low"),
    Language("mr", "Marathi", "Devanagari", "low"),
    Language("tl", "Tagalog", "Latin", "low"),
    Language("ti", "Tigrinya", "Ethiopic", "low"),
    Language("om", "Oromo", "Latin", "low"),
    Language("ig", "Igbo", "Latin", "low"),
    Language("zu", "Zulu", "Latin", "low"),
    Language("xh", "Xhosa", "Latin", "low"),
    Language("rw", "Kinyarwanda", "Latin", "low"),
    Language("wo", "Wolof", "Latin", "low"),
    Language("ak", "Akan", "Latin", "low"),
    Language("pcm", "Nigerian Pidgin", "Latin", "low"),
    Language("af", "Afrikaans", "Latin", "low"),
]}
LOW_RESOURCE = tuple(c for c, lang in LANGUAGES.items() if lang.resource == "low")
HIGH_RESOURCE = tuple(c for c, lang in LANGUAGES.items() if lang.resource == "high")


def language(code: str) -> Language:
    """The :class:`Language` of ``code``; a ValueError lists the known codes otherwise."""
    try:
        return LANGUAGES[code]
    except KeyError:
        raise ValueError(f"unknown language code {code!r}; known codes: {', '.join(sorted(LANGUAGES))}") from None


def stemmer_codes() -> list:
    """Codes of the languages that have a Snowball stemmer."""
    return sorted(c for c, lang in LANGUAGES.items() if lang.stemmer)
