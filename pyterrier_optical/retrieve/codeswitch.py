"""Code-switching conditions and dictionary translation of queries.

Following Litschko, Artemova & Plank (Findings of ACL 2023): each word of a text is replaced, independently with
probability ``p``, by its translation in a bilingual lexicon when the lexicon has one. A seed makes it reproducible;
the multilingual variant draws a language per word. The same function rewrites queries, documents or bitext.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import pandas as pd
import pyterrier as pt

from ..data.text import WORD, as_text
from ..data.lexicon import Lexicon
from ..util.checks import check_choice, check_instance, check_number, check_positive_int, check_text
from ..util.keys import Keyed, digest

logger = logging.getLogger(__name__)


@dataclass
class SwitchStats:
    """Words seen, words the lexicon could switch, and words switched."""

    words: int = 0
    switchable: int = 0
    switched: int = 0
    texts_without_switchable: int = 0

    @property
    def rate(self) -> float:
        """Realised switch rate among switchable words."""
        return self.switched / self.switchable if self.switchable else 0.0

    def add(self, other: "SwitchStats"):
        self.words += other.words
        self.switchable += other.switchable
        self.switched += other.switched
        self.texts_without_switchable += other.texts_without_switchable


def check_ratio(p: float) -> float:
    """A code-switch ratio: a number in [0, 1]."""
    return check_number("code-switch ratio p", p, 0.0, 1.0)


def lexicon_key(lexicon: Lexicon) -> dict:
    """What a lexicon translates with: its languages and a digest of its entries (its name is left out)."""
    return {"source": lexicon.source, "target": lexicon.target, "entries": digest(lexicon.entries)}


def check_lexicons(lexicons) -> list:
    """``lexicons`` (one :class:`Lexicon` or several) as a non-empty list; a ValueError saying what came otherwise."""
    found = [lexicons] if isinstance(lexicons, Lexicon) else \
        list(lexicons) if isinstance(lexicons, (list, tuple)) else [None]
    if not found or not all(isinstance(lexicon, Lexicon) for lexicon in found):
        raise ValueError(f"lexicons must be a Lexicon or a non-empty list of them (shipped_lexicon(lang), "
                         f"read_freedict(...)), got {lexicons!r}")
    return found


def code_switch(text, lexicons, p: float, rng: random.Random) -> tuple:
    """``text`` with each word replaced with probability ``p`` by a translation; returns ``(text, SwitchStats)``.

    ``lexicons`` is one :class:`Lexicon` or a list of them (multilingual: a lexicon is drawn per word among those
    that translate it). Non-words (spaces, punctuation) are kept as they are.
    """
    check_ratio(p)
    lexicons = check_lexicons(lexicons)
    stats = SwitchStats()
    text = as_text(text)
    if not text:
        stats.texts_without_switchable = 1
        return text, stats
    out, last = [], 0
    for match in WORD.finditer(text):
        word = match.group()
        stats.words += 1
        options = [t for t in (lex.translate(word) for lex in lexicons) if t is not None]
        replacement = word
        if options:
            stats.switchable += 1
            if rng.random() < p:
                replacement = rng.choice(options) if len(options) > 1 else options[0]
                stats.switched += 1
        out.append(text[last:match.start()])
        out.append(replacement)
        last = match.end()
    out.append(text[last:])
    stats.texts_without_switchable = int(stats.switchable == 0)
    return "".join(out), stats


class CodeSwitch(Keyed, pt.Transformer):
    """Rewrites a text column with artificial code-switching; the original query is kept in ``query_0``.

    Args:
        lexicons: a :class:`Lexicon` (or a list: multilingual mode, a lexicon drawn per word) mapping the column's
            language to the other language(s).
        p: probability of switching each word the lexicon knows, in [0, 1].
        seed: the switch of a row depends only on (seed, its ``qid`` or ``docno``), so it is reproducible.
        field: the column to rewrite (``query`` or ``text``).
    """

    schematic = {"label": "Code-switch"}

    def __init__(self, lexicons, p: float = 0.5, seed: int = 0, field: str = "query"):
        check_lexicons(lexicons)
        self.lexicons = lexicons
        self.p = check_ratio(p)
        self.seed = check_positive_int("seed", seed, 0)
        self.field = check_text("field", field)
        self.stats_ = SwitchStats()

    def key_argument(self, name: str):
        if name == "lexicons":
            return [lexicon_key(lexicon) for lexicon in check_lexicons(self.lexicons)]
        return super().key_argument(name)

    def __repr__(self):
        return f"CodeSwitch(p={self.p}, seed={self.seed}, field={self.field!r})"

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        key = "docno" if self.field != "query" and "docno" in inp.columns else "qid"
        pt.validate.columns(inp, includes=[key, self.field])
        out = pt.model.push_queries(inp, inplace=False) if self.field == "query" else inp.copy()
        self.stats_ = SwitchStats()
        texts = []
        for row_key, text in zip(inp[key], inp[self.field]):
            switched, stats = code_switch(text, self.lexicons, self.p, random.Random(f"{self.seed}:{row_key}"))
            texts.append(switched)
            self.stats_.add(stats)
        out[self.field] = texts
        if len(out):
            logger.info("code-switched %d of %d switchable words (rate %.3f, p=%.2f); %d rows had none",
                        self.stats_.switched, self.stats_.switchable, self.stats_.rate, self.p,
                        self.stats_.texts_without_switchable)
        return out


def code_switch_pairs(pairs, lexicons, p: float, seed: int = 0, side: int = 0) -> tuple:
    """Code-switched copies of ``(english, other)`` pairs: side 0 (English) or 1 rewritten, the other kept, so
    code-switched training data can be made. Returns ``(pairs, SwitchStats)``; reproducible for a seed."""
    check_choice("side", side, (0, 1))
    check_positive_int("seed", seed, 0)
    check_ratio(p)
    check_lexicons(lexicons)
    total = SwitchStats()
    out = []
    for i, pair in enumerate(pairs):
        text, stats = code_switch(pair[side], lexicons, p, random.Random(f"{seed}:{i}"))
        total.add(stats)
        out.append((text, pair[1]) if side == 0 else (pair[0], text))
    return out, total


def translate_words(text, lexicon: Lexicon) -> str:
    """Every word the lexicon knows replaced by its best translation; unknown words (names, numbers) kept."""
    return WORD.sub(lambda m: lexicon.translate(m.group()) or m.group(), as_text(text))


class LexiconTranslate(Keyed, pt.Transformer):
    """Dictionary-based query translation, the classic CLIR baseline for a BM25 first stage.

    The original query is kept in ``query_0``.
    """

    schematic = {"label": "Lexicon translate"}

    def __init__(self, lexicon: Lexicon):
        self.lexicon = check_instance("lexicon", lexicon, Lexicon, " (shipped_lexicon(lang), read_freedict(...))")

    def key_argument(self, name: str):
        return lexicon_key(self.lexicon) if name == "lexicon" else super().key_argument(name)

    def __repr__(self):
        return f"LexiconTranslate({self.lexicon.source}->{self.lexicon.target})"

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        pt.validate.query_frame(inp, extra_columns=["query"])
        out = pt.model.push_queries(inp, inplace=False)
        out["query"] = [translate_words(q, self.lexicon) for q in inp["query"]]
        return out
