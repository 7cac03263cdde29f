"""Parallel sentences: the shipped real bitext and users' own TSV/JSONL files."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from .files import read_records
from .languages import language

SPLITS = ("train", "dev", "test")
SOURCES = ("chromium", "kolibri", "cldr")
SENTENCE_SOURCES = ("chromium", "kolibri")  # interface sentences, in one file per language; CLDR phrases apart
TRAINING_SOURCES = ("chromium", "cldr")  # what a student may train on: Kolibri is spent on dev and test
# the languages of each shipped source: four low-resource and three high-resource from Chromium (the student's
# bitext and the in-domain test), and from Kolibri another source (out of domain; yo and ha have only Kolibri)
CHROMIUM_LANGUAGES = ("sw", "am", "mr", "tl", "de", "fr", "fi")
KOLIBRI_LANGUAGES = ("sw", "mr", "yo", "ha", "de", "fr")


def shipped_bitext_dir() -> Path:
    return Path(resources.files("pyterrier_optical") / "data" / "bitext")


def shipped_languages(source: str | None = None) -> list:
    """Languages with shipped bitext (of the interface sentences, or of ``cldr``)."""
    folder = shipped_bitext_dir() / "cldr" if source == "cldr" else shipped_bitext_dir()
    return sorted(p.stem for p in folder.glob("*.tsv"))


def load_bitext(lang: str, split: str = "train", source: str | None = "chromium") -> list:
    """``(english, other)`` pairs of the shipped bitext of ``lang``.

    Args:
        lang: a code of :func:`shipped_languages` (sw, am, mr, tl, de, fr, fi from Chromium; yo, ha, and also sw, mr,
            de, fr from Kolibri).
        split: ``train``, ``dev`` or ``test`` (disjoint by English string, across all languages and sources).
        source: ``chromium``, ``kolibri``, ``cldr`` (short phrases of the Unicode CLDR), or None for the first two.
    """
    language(lang)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if source is not None and source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {SOURCES} or None")
    folder = shipped_bitext_dir() / "cldr" if source == "cldr" else shipped_bitext_dir()
    path = folder / f"{lang}.tsv"
    if not path.exists():
        raise ValueError(f"no shipped {source or 'sentence'} bitext for {lang!r}; shipped: "
                         f"{', '.join(shipped_languages(source))}")
    return [(r["en"], r["other"]) for r in read_records(path, ["source", "split", "en", "other"], header=True)
            if r["split"] == split and (source is None or r["source"] == source)]


def read_bitext(path, on_error: str = "raise", skipped: list | None = None) -> list:
    """``(english, other)`` pairs from a file: TSV lines ``english<TAB>other`` or JSONL ``{"en", "other"}``.

    Lines with a missing column, an empty side or invalid UTF-8 raise a ValueError naming the file and line, or with
    ``on_error="skip"`` are logged and their numbers appended to ``skipped``.
    """
    records = read_records(path, ["en", "other"], on_error, skipped, check=_check_pair)
    return [(r["en"], r["other"]) for r in records]


def _check_pair(record: dict):
    empty = [side for side in ("en", "other") if not record[side].strip()]
    if empty:
        raise ValueError(f"empty {' and '.join(empty)} side")


def mixed_bitext(languages, split: str, source: str | None = "chromium") -> list:
    """The shipped bitext of ``languages`` for ``split`` and ``source``, mixed in one list (a language the source
    lacks adds nothing)."""
    return [pair for lang in languages for pair in load_bitext(lang, split, source)]


def english_training_sentences() -> list:
    """English side of the shipped training split, all languages and sources, without repeats."""
    return list(dict.fromkeys(en for lang in shipped_languages() for en, _ in load_bitext(lang, "train", None)))


def bitext_counts(lang: str) -> dict:
    """Shipped pairs of ``lang``: ``{source: {split: count}}`` for each source that has any."""
    counts = {}
    for source in SOURCES:
        if lang in shipped_languages("cldr" if source == "cldr" else None):
            found = {split: len(load_bitext(lang, split, source)) for split in SPLITS}
            if any(found.values()):
                counts[source] = found
    return counts
