import pandas as pd
import pytest

from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.retrieve.codeswitch import CodeSwitch, LexiconTranslate, code_switch, code_switch_pairs
from pyterrier_optical.data.lexicon import Lexicon, induce_lexicon, read_word_pairs, shipped_lexicon

EN_SW = Lexicon({"open": ["fungua"], "new": ["mpya"], "tab": ["kichupo"]}, "en", "sw")
EN_DE = Lexicon({"open": ["öffnen"], "tab": ["Tab"]}, "en", "de")


def topics():
    return pd.DataFrame({"qid": [str(i) for i in range(200)], "query": ["Open a new tab, now!"] * 200})


def test_ratio_extremes_and_punctuation():
    import random

    text, stats = code_switch("Open a new tab, now!", EN_SW, 1.0, random.Random(0))
    assert text == "fungua a mpya kichupo, now!" and (stats.switchable, stats.switched) == (3, 3)
    text, stats = code_switch("Open a new tab, now!", EN_SW, 0.0, random.Random(0))
    assert text == "Open a new tab, now!" and stats.switched == 0


def test_realised_rate_follows_p_and_is_reproducible():
    cs = CodeSwitch(EN_SW, p=0.5, seed=3)
    out = cs(topics())
    assert 0.42 < cs.stats_.rate < 0.58
    assert out["query_0"].eq("Open a new tab, now!").all()
    again = CodeSwitch(EN_SW, p=0.5, seed=3)(topics().iloc[::-1])
    assert out.set_index("qid")["query"].to_dict() == again.set_index("qid")["query"].to_dict()
    assert CodeSwitch(EN_SW, p=0.5, seed=4)(topics())["query"].tolist() != out["query"].tolist()


def test_multilingual_mode_draws_a_language_per_word():
    out = CodeSwitch([EN_SW, EN_DE], p=1.0, seed=0)(topics())
    words = " ".join(out["query"]).split()
    assert {"fungua", "öffnen"} <= set(words) and "mpya" in words


def test_no_switchable_word_is_unchanged_and_counted():
    cs = CodeSwitch(EN_SW, p=1.0)
    out = cs(pd.DataFrame({"qid": ["1", "2"], "query": ["xyz zzz", None]}))
    assert out["query"].tolist() == ["xyz zzz", ""] and cs.stats_.texts_without_switchable == 2


def test_bad_ratio():
    with pytest.raises(ValueError, match=r"ratio p must be in \[0, 1\]"):
        CodeSwitch(EN_SW, p=1.5)


def test_documents_can_be_switched():
    docs = pd.DataFrame({"docno": ["d1"], "text": ["open tab"]})
    assert CodeSwitch(EN_SW, 1.0, field="text")(docs)["text"].tolist() == ["fungua kichupo"]


def test_lexicon_translation_keeps_unknown_words():
    out = LexiconTranslate(EN_SW)(pd.DataFrame({"qid": ["1"], "query": ["open Chromium tab"]}))
    assert out["query"].tolist() == ["fungua Chromium kichupo"] and out["query_0"].tolist() == ["open Chromium tab"]


def test_induced_lexicon_is_useful_on_held_out_pairs():
    for lang in ("sw", "am"):
        lex = shipped_lexicon(lang)
        assert len(lex) > 1000
        assert lex.precision(load_bitext(lang, "dev")) > 0.6
    assert shipped_lexicon("sw").translate("mtandao") == "network"


def test_word_pair_files(tmp_path):
    path = tmp_path / "muse.txt"
    path.write_text("open fungua\ntab\tkichupo\n", encoding="utf-8")
    assert read_word_pairs(path, "en", "sw").entries == {"open": ["fungua"], "tab": ["kichupo"]}
    path.write_text("open fungua\nbroken line here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"muse\.txt:2"):
        read_word_pairs(path, "en", "sw")
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty lexicon"):
        read_word_pairs(path, "en", "sw")
    with pytest.raises(ValueError, match="empty lexicon"):
        induce_lexicon([("a b", "c d")], "sw")


def test_bitext_can_be_code_switched():
    pairs = [("open a new tab", "fungua kichupo kipya")] * 3
    switched, stats = code_switch_pairs(pairs, EN_SW, 1.0, seed=1)
    assert switched[0] == ("fungua a mpya kichupo", "fungua kichupo kipya") and stats.switched == 9
    assert code_switch_pairs(pairs, EN_SW, 0.5, seed=2) == code_switch_pairs(pairs, EN_SW, 0.5, seed=2)


def test_teacher_examples_can_be_code_switched():
    from pyterrier_optical.train.teacher import Example, code_switch_examples

    lexicons = [shipped_lexicon("sw", "from_en"), shipped_lexicon("de", "from_en")]
    examples = [Example("open new tab", "Open a new tab", ("Close the tab", "New window"))] * 20
    switched, stats = code_switch_examples(examples, lexicons, 1.0, seed=3)
    assert stats.rate == 1.0 and all(ex.query != "open new tab" for ex in switched)
    assert all(ex.positive == "Open a new tab" and ex.negatives == examples[0].negatives for ex in switched)
    both, _ = code_switch_examples(examples, lexicons, 0.5, seed=3, fields=("query", "documents"))
    assert any(ex.positive != "Open a new tab" for ex in both)
    assert code_switch_examples(examples, lexicons, 0.5, seed=3, fields=("query", "documents"))[0] == both
    assert code_switch_examples(examples, lexicons, 0.0)[0] == examples
    with pytest.raises(ValueError, match="fields"):
        code_switch_examples(examples, lexicons, 0.5, fields=("title",))
    with pytest.raises(ValueError, match=r"ratio p must be in \[0, 1\]"):
        code_switch_examples(examples, lexicons, 1.5)
