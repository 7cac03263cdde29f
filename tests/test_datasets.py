import gzip

import ir_datasets
import pyterrier as pt
import pytest

from pyterrier_optical.data import datasets


def test_shipped_collection_through_pyterrier():
    ds = pt.get_dataset("irds:optical/ui/am-en/test")
    topics, qrels = ds.get_topics(), ds.get_qrels()
    assert len(topics) == len(qrels) > 500 and qrels["label"].eq(1).all()
    assert set(qrels["qid"]) == set(topics["qid"])
    docs = {d["docno"]: d["text"] for d in ds.get_corpus_iter(verbose=False)}
    assert set(qrels["docno"]) <= set(docs)
    assert ds.get_topics_lang() == "am" and ds.get_corpus_lang() == "en"
    loaded = ds.text_loader()(qrels.head(3)[["qid", "docno"]])
    assert loaded["text"].tolist() == [docs[d] for d in qrels.head(3)["docno"]]


def test_unknown_id_suggests_close_ones():
    with pytest.raises(KeyError, match="closest: optical/ui/sw-en/test"):
        datasets.load("optical/ui/sw-en/tset")


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_register_local_files(tmp_path):
    docs = write(tmp_path / "docs.tsv", "d1\tHabari za dunia\nd2\tMvua kubwa\n")
    queries = write(tmp_path / "q.jsonl", '{"qid": "1", "query": "world news"}\n')
    qrels = write(tmp_path / "qrels.txt", "1 0 d1 1\n")
    name = datasets.register_local("test-local/sw", docs, queries, qrels, query_lang="en", doc_lang="sw")
    ds = pt.get_dataset("irds:" + name)
    assert ds.get_topics()["query"].tolist() == ["world news"]
    assert ds.get_qrels()[["qid", "docno", "label"]].values.tolist() == [["1", "d1", 1]]
    assert ds.get_corpus_lang() == "sw"
    # the same files again: a no-op; other files: an error
    assert datasets.register_local("test-local/sw", docs, queries, qrels, query_lang="en", doc_lang="sw") == name
    other = write(tmp_path / "docs2.tsv", "d1\tx\n")
    with pytest.raises(ValueError, match="already registered with other files"):
        datasets.register_local("test-local/sw", other, queries, qrels, query_lang="en", doc_lang="sw")
    with pytest.raises(FileNotFoundError, match="qrels file not found"):
        datasets.register_local("test-local/x", docs, queries, tmp_path / "missing.txt")
    write(qrels, "1 0 d2 1\n")  # edited in place: registering again serves what the files hold now
    assert datasets.register_local("test-local/sw", docs, queries, qrels, query_lang="en", doc_lang="sw") == name
    assert pt.get_dataset("irds:" + name).get_qrels()[["qid", "docno"]].values.tolist() == [["1", "d2"]]
    no_docno = write(tmp_path / "no-docno.tsv", "d1\tHabari\n\tMvua\n")
    with pytest.raises(ValueError, match="no-docno.tsv:2: empty docno"):
        datasets.register_local("test-local/empty-docno", no_docno)
    with pytest.raises(ValueError, match="empty.tsv: no records"):
        datasets.register_local("test-local/empty", write(tmp_path / "empty.tsv", ""))
    jsonl_docs = write(tmp_path / "docs.jsonl", '{"doc_id": "d1", "text": "Habari"}\n')
    jsonl = pt.get_dataset("irds:" + datasets.register_local("test-local/jsonl", jsonl_docs, doc_lang="sw"))
    assert [(d["docno"], d["text"]) for d in jsonl.get_corpus_iter(verbose=False)] == [("d1", "Habari")]
    bad = write(tmp_path / "bad_qrels.txt", "1 0 d1\n")
    with pytest.raises(ValueError, match=r"bad_qrels\.txt:1"):
        datasets.register_local("test-local/bad", docs, queries, bad)
    assert "test-local/bad" not in ir_datasets.registry


def test_public_collection_ids():
    assert datasets.clir_dataset_id("clirmatrix", "sw", "en", "test1") == "clirmatrix/en/bi139-base/sw/test1"
    assert datasets.clir_dataset_id("wikiclir", "en", "sw") == "wikiclir/sw"
    assert datasets.clir_dataset_id("mmarco", "fr", "fr") == "mmarco/v2/fr/dev/small"
    with pytest.raises(ValueError, match="no sw->en setting"):
        datasets.clir_dataset_id("wikiclir", "sw", "en")
    with pytest.raises(ValueError, match="unknown collection"):
        datasets.clir_dataset_id("ciral", "en", "ha")


def test_download_failure_message_is_actionable():
    error = datasets.explain_download_failure("wikiclir/sw", ConnectionError("Name or service not known"))
    assert isinstance(error, OSError)
    assert "wikiclir/sw" in str(error) and "register_local" in str(error) and "IR_DATASETS_HOME" in str(error)


def test_freedict_fixture_round_trip(tmp_path):
    from pyterrier_optical.data.lexicon import read_freedict

    entries = ["abiria /ˌabirˈia/ <n>\n\npassenger\n", "acha /ˈatʃa/ <v>\n1.\nleave\n2.\nquit, stop doing sth\n"]
    data, index, offset = "", [], 0
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    def enc(n):
        out = ""
        while True:
            out = b64[n % 64] + out
            n //= 64
            if not n:
                return out

    for head, entry in zip(["abiria", "acha"], entries):
        raw = entry.encode()
        index.append(f"{head}\t{enc(offset)}\t{enc(len(raw))}")
        data += entry
        offset += len(raw)
    write(tmp_path / "sw-en.index", "\n".join(index) + "\n")
    (tmp_path / "sw-en.dict.dz").write_bytes(gzip.compress(data.encode()))
    lex = read_freedict(tmp_path / "sw-en.index", "sw", "en")
    assert lex.entries == {"abiria": ["passenger"], "acha": ["leave", "quit", "stop doing sth"]}
    write(tmp_path / "bad.index", "abiria\tA\n")
    (tmp_path / "bad.dict").write_text("x")
    with pytest.raises(ValueError, match=r"bad\.index:1"):
        read_freedict(tmp_path / "bad.index", "sw", "en")


@pytest.mark.parametrize("dataset_id, having", [
    ("optical/ui-kolibri/am-en/test", "de, fr, ha, mr, sw, yo"), ("optical/ui/yo-en/test", "am, de, fi, fr, mr"),
    ("optical/ui/ha-en/dev", "am, de, fi, fr, mr")])
def test_reliability_a_shipped_id_of_a_language_without_that_source_says_so(dataset_id, having):
    """Not an empty collection (which compare would fail on far from the cause): the id's source has no bitext for
    the language, and the languages that have one are named."""
    with pytest.raises(ValueError, match=f"{dataset_id}: no .* bitext for .*; languages with one: {having}"):
        pt.get_dataset("irds:" + dataset_id).get_topics()
