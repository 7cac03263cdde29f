"""Bilingual lexicons: FreeDict dictd files, plain word-pair lists, and lexicons induced from bitext."""
from __future__ import annotations

import collections
import gzip
from collections.abc import Mapping
from pathlib import Path

import regex

from .bitext import load_bitext, shipped_languages
from .files import BadRecordError, read_lines
from .languages import language
from .text import clean, normalise, words

_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_SENSE_NUMBER = regex.compile(r"^\d+\.$")
_BRACKETS = regex.compile(r"\([^)]*\)|\[[^\]]*\]|\{[^}]*\}|<[^>]*>")


class Lexicon:
    """Word translations ``source -> [targets]`` (best first) between two languages.

    ``entries`` maps each word to its translation (a string) or its translations (a list or tuple of strings, best
    first; an empty list: none); anything else (None, a number, a list of pairs, an empty string) is refused naming
    the word. Keys are normalised (:func:`~pyterrier_optical.data.text.normalise`: invisible format characters, NFC,
    case folding), as documents and queries are; :meth:`translate` looks a word up the same way.
    """

    def __init__(self, entries: dict, source: str, target: str, name: str = ""):
        self.source, self.target = language(source).code, language(target).code
        self.name = name
        self.entries = {}
        if not isinstance(entries, Mapping):
            raise ValueError(f"a Lexicon's entries are a dict word -> translation(s), got a "
                             f"{type(entries).__name__}{' (of pairs? pass dict(pairs))' if _pairs(entries) else ''}")
        for word, targets in entries.items():
            if not isinstance(word, str) or not normalise(word).strip():
                raise ValueError(f"lexicon word {word!r} is {'empty' if isinstance(word, str) else 'not a string'}")
            key = normalise(word).strip()
            kept = [clean(t).strip() for t in _translations(word, targets)]
            if not all(kept):
                raise ValueError(f"the translation of {word!r} is empty: {targets!r}")
            if kept:
                self.entries.setdefault(key, [])
                self.entries[key] += [t for t in kept if t not in self.entries[key]]

    def __len__(self):
        return len(self.entries)

    def __contains__(self, word):
        return normalise(word) in self.entries

    def __repr__(self):
        return f"Lexicon({self.source}->{self.target}, {len(self)} entries{', ' + self.name if self.name else ''})"

    def translate(self, word: str) -> str | None:
        """The best translation of ``word``, or None."""
        targets = self.entries.get(normalise(word))
        return targets[0] if targets else None

    def inverse(self) -> "Lexicon":
        """The target -> source lexicon."""
        inverted = collections.defaultdict(list)
        for word, targets in self.entries.items():
            for t in targets:
                inverted[t].append(word)
        return Lexicon(inverted, self.target, self.source, f"inverse of {self.name}" if self.name else "")

    def precision(self, pairs) -> float:
        """Share of translated words of the target-language side of held-out ``(source_text, target_text)`` pairs
        whose translation occurs in the source text: ``pairs`` are ``(english, other)`` when the lexicon maps other
        -> English."""
        hits = total = 0
        for source_text, target_text in pairs:
            reference = set(words(source_text))
            for w in words(target_text):
                t = self.translate(w)
                if t is not None:
                    total += 1
                    hits += normalise(t) in reference
        return hits / total if total else float("nan")


def _translations(word: str, targets) -> list:
    """The translations of ``word``: a string is one translation, a list or tuple of strings several; anything else
    is a ValueError naming the word."""
    if isinstance(targets, str):
        return [targets]
    if isinstance(targets, (list, tuple)) and all(isinstance(t, str) for t in targets):
        return list(targets)
    if isinstance(targets, (list, tuple)):
        wrong = next(t for t in targets if not isinstance(t, str))
        what = f"a {type(targets).__name__} holding {wrong!r} ({type(wrong).__name__})"
    else:
        what = f"{str(targets)[:60]} ({type(targets).__name__})"
    raise ValueError(f"the translation of {word!r} is {what}: give a string, or a list of strings (best first)")


def _pairs(entries) -> bool:
    try:
        return all(isinstance(e, (list, tuple)) and len(e) == 2 for e in entries) and bool(entries)
    except TypeError:
        return False


def _b64(text: str) -> int:
    n = 0
    for c in text:
        n = n * 64 + _B64[c]
    return n


def read_freedict(path, source: str, target: str) -> Lexicon:
    """A FreeDict dictd dictionary: ``path`` is the ``.index`` file (or their common prefix); the ``.dict.dz``
    (or ``.dict``) beside it holds the entries. Malformed index lines raise a ValueError naming file and line."""
    path = Path(path)
    index = path if path.suffix == ".index" else path.with_name(path.name + ".index")
    stem = index.with_suffix("")
    data_file = next((p for p in (Path(f"{stem}.dict.dz"), Path(f"{stem}.dict")) if p.exists()), None)
    if data_file is None:
        raise FileNotFoundError(f"no {stem}.dict.dz or {stem}.dict beside {index}")
    data = gzip.open(data_file).read() if data_file.suffix == ".dz" else data_file.read_bytes()
    entries = collections.defaultdict(list)
    for number, line in read_lines(index):
        fields = line.split("\t")
        if len(fields) != 3 or not all(c in _B64 for c in fields[1] + fields[2]):
            raise BadRecordError(index, number, "expected 'headword<TAB>base64 offset<TAB>base64 length'")
        headword, offset, length = fields[0], _b64(fields[1]), _b64(fields[2])
        if headword.startswith("00database") or headword.startswith("00-database"):
            continue
        if offset + length > len(data):
            raise BadRecordError(index, number, f"entry runs past the end of {data_file.name}")
        entries[headword] += _definition_targets(data[offset:offset + length].decode("utf-8", errors="replace"))
    return Lexicon(entries, source, target, f"FreeDict {stem.name}")


def _definition_targets(entry: str) -> list:
    """Translations of a dictd entry: lines after the headword line, split at commas and semicolons."""
    targets = []
    for line in entry.splitlines()[1:]:
        line = line.strip()
        if not line or _SENSE_NUMBER.match(line):
            continue
        for part in regex.split(r"[,;]", _BRACKETS.sub(" ", line)):
            part = " ".join(part.split())
            if part and part.lower() not in ("sth", "sb"):
                targets.append(part)
    return targets


def read_word_pairs(path, source: str, target: str) -> Lexicon:
    """``source<TAB>target`` lines, or MUSE-style ``source target`` lines (one space). Malformed lines raise a
    ValueError naming file and line; an empty file is an error too."""
    entries = collections.defaultdict(list)
    for number, line in read_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split(" ")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise BadRecordError(path, number, "expected 'source<TAB>target' or 'source target'")
        entries[fields[0]].append(fields[1])
    if not entries:
        raise ValueError(f"{path}: empty lexicon")
    return Lexicon(entries, source, target, Path(path).name)


def induce_lexicon(pairs, source: str, target: str = "en", min_count: int = 2, min_dice: float = 0.3,
                   max_targets: int = 3) -> Lexicon:
    """A lexicon ``source -> target`` from ``(target_text, source_text)`` bitext by the Dice coefficient of
    sentence-level co-occurrence: ``2 c(s, t) / (c(s) + c(t))``, keeping targets with ``c(s, t) >= min_count``.

    ``pairs`` follow the project's ``(english, other)`` order, so the default maps other -> English.
    """
    source_count, target_count, joint = collections.Counter(), collections.Counter(), collections.Counter()
    n_pairs = 0
    for target_text, source_text in pairs:
        s_words, t_words = set(words(source_text)), set(words(target_text))
        source_count.update(s_words)
        target_count.update(t_words)
        joint.update((s, t) for s in s_words for t in t_words)
        n_pairs += 1
    scored = collections.defaultdict(list)
    for (s, t), c in joint.items():
        if c >= min_count:
            dice = 2 * c / (source_count[s] + target_count[t])
            if dice >= min_dice:
                scored[s].append((dice, c, t))
    entries = {s: [t for _, _, t in sorted(cands, key=lambda x: (-x[0], -x[1], x[2]))[:max_targets]]
               for s, cands in scored.items()}
    if not entries:
        raise ValueError("the bitext induced an empty lexicon; lower min_count / min_dice or give more pairs")
    return Lexicon(entries, source, target, f"induced from {n_pairs} pairs")


_induced_cache: dict = {}


def shipped_lexicon(lang: str, direction: str = "to_en") -> Lexicon:
    """The lexicon induced from the shipped train bitext of ``lang`` (``to_en``: lang -> en; ``from_en``): its
    interface sentences, or for a language with none (Somali, Tigrinya, ...) its CLDR phrases."""
    if direction not in ("to_en", "from_en"):
        raise ValueError(f"direction must be 'to_en' or 'from_en', got {direction!r}")
    lexicon = _induced_cache.get(lang)
    if lexicon is None:
        source = None if lang in shipped_languages() else "cldr"
        lexicon = _induced_cache[lang] = induce_lexicon(load_bitext(lang, "train", source), lang, "en")
    return lexicon if direction == "to_en" else lexicon.inverse()


