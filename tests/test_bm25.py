import pandas as pd
import pytest

from pyterrier_optical import MultilingualBM25
from pyterrier_optical.data.text import Analyzer

DOCS = [
    {"docno": "de1", "text": "Die Häuser am Fluss sind alt"},
    {"docno": "de2", "text": "Ein Auto fährt schnell über die Brücke"},
    {"docno": "mr1", "text": "गोपनीयता आणि सुरक्षा सेटिंग्ज"},
    {"docno": "mr2", "text": "नवीन टॅब उघडा"},
    {"docno": "am1", "text": "የግላዊነት ቅንብሮች"},
    {"docno": "am2", "text": "አዲስ ትር ክፈት"},
    {"docno": "empty", "text": None},
]


def topics(*queries):
    return pd.DataFrame({"qid": [str(i) for i in range(len(queries))], "query": list(queries)})


@pytest.fixture()
def german(tmp_path):
    return MultilingualBM25(tmp_path / "de", lang="de", verbose=False).index(DOCS)


def test_stemming_finds_inflected_german(german):
    res = german.bm25()(topics("Haus"))
    assert res["docno"].tolist() == ["de1"]
    assert list(res.columns) == ["qid", "query", "docno", "score", "rank", "text"]
    assert res["text"].iloc[0] == "Die Häuser am Fluss sind alt"


def test_devanagari_and_ethiopic_queries_find_their_documents(tmp_path):
    index = MultilingualBM25(tmp_path / "x", lang="mr", verbose=False).index(DOCS)
    res = index.bm25()(topics("सुरक्षा सेटिंग्ज", "ቅንብሮች", "ትር"))
    assert res.groupby("qid")["docno"].first().to_dict() == {"0": "mr1", "1": "am1", "2": "am2"}
    assert (res.groupby("qid")["rank"].min() == 0).all()


def test_index_reopens_with_its_settings(german, tmp_path):
    again = MultilingualBM25(tmp_path / "de")
    assert again.lang == "de" and again.stemmer == "de"
    pd.testing.assert_frame_equal(again.bm25()(topics("Haus", "Brücke")), german.bm25()(topics("Haus", "Brücke")))
    with pytest.raises(FileExistsError, match="overwrite"):
        again.index(DOCS)
    with pytest.raises(ValueError, match="lang='de'"):
        MultilingualBM25(tmp_path / "de", lang="fr")


def test_scores_equal_pisa_on_its_own_text_path(tmp_path):
    from pyterrier_pisa import PisaIndex

    docs = [{"docno": f"d{i}", "text": t} for i, t in enumerate(
        ["open a new tab", "open the settings page", "new window", "settings for privacy and security tab"])]
    ours = MultilingualBM25(tmp_path / "ours", lang="en", stemmer=None, verbose=False).index(docs).bm25()
    pisa = PisaIndex(str(tmp_path / "pisa"), stemmer="none", stops="none")
    pisa.index(docs)
    q = topics("open tab", "settings security")
    a = ours(q).sort_values(["qid", "docno"]).reset_index(drop=True)
    b = pisa.bm25()(q).sort_values(["qid", "docno"]).reset_index(drop=True)
    assert a["docno"].tolist() == b["docno"].tolist()
    assert a["score"].tolist() == pytest.approx(b["score"].tolist(), rel=1e-6)


def test_query_without_terms_and_empty_frame(german):
    res = german.bm25()(topics("...", "Haus"))
    assert res["qid"].tolist() == ["1"]
    empty = german.bm25()(topics().astype(str))
    assert len(empty) == 0 and {"docno", "score", "rank", "text"} <= set(empty.columns)


def test_missing_query_column(german):
    with pytest.raises(KeyError, match="query"):
        german.bm25()(pd.DataFrame({"qid": ["1"]}))


def test_rank_cutoff_and_text_loader(german):
    res = (german.bm25() % 1)(topics("die"))
    assert len(res) == 1
    loaded = german.text_loader()(res.drop(columns=["text"]))
    assert loaded["text"].tolist() == res["text"].tolist()


def test_unknown_stemmer_code_lists_supported():
    with pytest.raises(ValueError, match="supported codes: .*de.*en"):
        Analyzer("sw", stemmer="sw")
    with pytest.raises(ValueError, match="unknown language code 'xx'"):
        Analyzer("xx")


def test_documents_file_with_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "docs.tsv"
    path.write_bytes("d1\tHäuser\n".encode() + b"d2\tbad \xff byte\n")
    with pytest.raises(ValueError, match=r"docs\.tsv:2: invalid UTF-8"):
        MultilingualBM25(tmp_path / "idx", lang="de", verbose=False).index(path)


def test_documents_from_jsonl_file(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"docno": "d1", "text": "Häuser"}\n\n{"docno": "d2", "text": "Auto"}\n', encoding="utf-8")
    index = MultilingualBM25(tmp_path / "idx", lang="de", verbose=False).index(path)
    assert index.bm25()(topics("auto"))["docno"].tolist() == ["d2"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"docno": "d1"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: missing field\(s\) text"):
        MultilingualBM25(tmp_path / "idx2", lang="de", verbose=False).index(bad)


def test_neighbours_exclude_the_query_itself_and_fill_up():
    import random

    from pyterrier_optical.retrieve.bm25 import neighbours

    texts = ["open a new tab", "open a new window", "close the tab", "print the page", "zoom in"]
    found = neighbours(texts, texts, 3, random.Random(0))
    assert [len(f) for f in found] == [3] * 5
    assert all(i not in f and len(set(f)) == 3 for i, f in enumerate(found))
    assert found[0][0] == 1  # "open a new window" shares three words with "open a new tab"
    assert [len(f) for f in neighbours(texts[:2], texts[:2], 3, random.Random(0))] == [1, 1]
