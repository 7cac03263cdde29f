import collections

import pytest

from pyterrier_optical.data.bitext import SPLITS, load_bitext, read_bitext, shipped_languages


def test_shipped_languages_and_sizes():
    assert shipped_languages() == ["am", "de", "fi", "fr", "ha", "mr", "sw", "tl", "yo"]
    for lang in ("sw", "am", "mr", "tl", "de", "fr", "fi"):
        sizes = {s: len(load_bitext(lang, s)) for s in SPLITS}
        assert sizes["train"] > 4500 and sizes["dev"] > 500 and sizes["test"] > 500, (lang, sizes)
    assert len(load_bitext("yo", "test", "kolibri")) > 90


def test_splits_are_disjoint_by_english_string_across_languages():
    where = collections.defaultdict(set)
    for lang in shipped_languages():
        for split in SPLITS:
            for en, _ in load_bitext(lang, split, None):
                where[en.casefold()].add(split)
    assert max(len(s) for s in where.values()) == 1


def test_pairs_are_one_to_one_per_language_and_source():
    for lang in ("sw", "am"):
        pairs = [p for s in SPLITS for p in load_bitext(lang, s)]
        assert len({en for en, _ in pairs}) == len(pairs) == len({x for _, x in pairs})


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown split"):
        load_bitext("sw", "validation")
    with pytest.raises(ValueError, match="no shipped chromium bitext for 'so'"):
        load_bitext("so")
    with pytest.raises(ValueError, match="unknown language code"):
        load_bitext("xx")


def test_read_bitext_reports_file_and_line(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes("Open a tab\tFungua kichupo\n\nno tab here\n".encode()
                     + b"bad\t\xff\nEmpty\t \nNew window\tDirisha jipya\n")
    with pytest.raises(ValueError, match=r"pairs\.tsv:3: expected 2 tab-separated fields"):
        read_bitext(path)
    skipped = []
    pairs = read_bitext(path, on_error="skip", skipped=skipped)
    assert pairs == [("Open a tab", "Fungua kichupo"), ("New window", "Dirisha jipya")]
    assert skipped == [3, 4, 5]
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text('{"en": "Open", "other": "Fungua"}\n{"en": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"pairs\.jsonl:2: missing field\(s\) other"):
        read_bitext(jsonl)
