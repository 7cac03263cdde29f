"""Dense retrieval on pyterrier-dr: E5Encoder on the real multilingual-e5-small gives the backbone's embeddings;
DenseIndex (a FlexIndex) retrieves whole collections with their texts, re-scores, and refuses bad input."""
import numpy as np
import pandas as pd
import pyterrier as pt
import pytest

from pyterrier_optical.experiment.demo import check_depth
from pyterrier_optical.rerank.fusion import check_disjoint, without_overlap
from pyterrier_optical.models.backbones import mean_pooled_embeddings
from pyterrier_optical.retrieve.dense import DenseIndex, E5Encoder

DOCS = [{"docno": "a", "text": "Open a new tab"}, {"docno": "b", "text": "Close the window"},
        {"docno": "c", "text": "Save the page as a file"}, {"docno": "d", "text": 404}]


@pytest.mark.slow
def test_e5_encoder_is_the_backbones_embedding_and_retrieves(e5_backbone, tmp_path):
    e5 = E5Encoder(str(e5_backbone), batch_size=2, precision="fp32")
    queries = e5.encode_queries(["Fungua kichupo kipya"])
    backbone = e5.model[0].auto_model
    expected = mean_pooled_embeddings(backbone, e5.model.tokenizer, ["Fungua kichupo kipya"], "query: ")
    np.testing.assert_allclose(queries, expected / np.linalg.norm(expected), atol=1e-5)
    docs = e5.encode_docs(["Open a new tab", None])
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(docs[1], e5.encode_docs([""])[0], atol=1e-6)  # None is the empty text
    reduced = E5Encoder(str(e5_backbone), batch_size=2)  # auto: bf16 where the CPU has it
    assert float(reduced.encode_queries(["Fungua kichupo kipya"])[0] @ queries[0]) > 0.999
    index = DenseIndex(tmp_path / "index", e5).index(DOCS)
    run = index.retriever(num_results=3)(pd.DataFrame({"qid": ["1"], "query": ["Fungua kichupo kipya"]}))
    vectors = e5.encode_docs([d["text"] for d in DOCS])
    scores = vectors @ queries[0]
    assert run["docno"].tolist() == [DOCS[i]["docno"] for i in np.argsort(-scores)[:3]]  # exact search
    np.testing.assert_allclose(run["score"].to_numpy(), np.sort(scores)[::-1][:3], atol=1e-5)
    assert run["text"].tolist() == [str(next(d["text"] for d in DOCS if d["docno"] == n)) for n in run["docno"]]


def test_dense_index_round_trip_and_bad_input(tiny_model_dir, tmp_path):
    encoder = E5Encoder(str(tiny_model_dir), batch_size=2, precision="fp32", cache=True)
    index = DenseIndex(tmp_path / "index", encoder).index(pd.DataFrame(DOCS).astype({"text": object}))
    assert index.built() and index.texts()["d"] == "404"  # numbers are read as their text
    topics = pd.DataFrame({"qid": ["1", "2"], "query": ["Open a new tab", "window"]})
    run = index.retriever(num_results=4)(topics)
    assert set(run.columns) >= {"qid", "query", "docno", "score", "rank", "text"} and len(run) == 8
    first = run[run["qid"] == "1"]
    expected = encoder.encode_docs([str(d["text"]) for d in DOCS]) @ encoder.encode_queries(["Open a new tab"])[0]
    assert first["docno"].tolist() == [DOCS[i]["docno"] for i in np.argsort(-expected)]
    rescored = index.scorer()(run.drop(columns=["score", "rank"]))
    merged = run.merge(rescored, on=["qid", "docno"], suffixes=("", "_again"))
    np.testing.assert_allclose(merged["score"], merged["score_again"], atol=1e-5)
    assert "query_vec" not in rescored.columns
    strangers = run.drop(columns=["score", "rank"]).head(3).assign(docno=["zz", DOCS[0]["docno"], "d3"])
    with pytest.raises(ValueError, match=r"2 docno\(s\) are not in dense index .*'d3', 'zz'"):
        index.scorer()(strangers)  # never scored with another document's vector
    with pytest.raises(ValueError, match="at least two documents.*got only 'solo'"):
        DenseIndex(tmp_path / "one", encoder).index([{"docno": "solo", "text": "one document"}])
    assert not (tmp_path / "one").exists()
    with pytest.raises(ValueError, match="docno 'a' is given twice"):
        DenseIndex(tmp_path / "dup", encoder).index(DOCS + [{"docno": "a", "text": "again"}])
    assert not (tmp_path / "dup").exists()
    with pytest.raises(ValueError, match="no documents"):
        DenseIndex(tmp_path / "empty", encoder).index([])
    other = E5Encoder(str(tiny_model_dir), batch_size=2, precision="fp32", max_length=16)
    with pytest.raises(ValueError, match="was built with .*'max_length': 256.* but is queried with .*'max_length': 16"):
        DenseIndex(tmp_path / "index", other).retriever()
    with pytest.raises(ValueError, match="num_results must be an integer >= 1"):
        index.retriever(num_results=0)
    with pytest.raises(ValueError, match="is not built"):
        DenseIndex(tmp_path / "none", encoder).retriever()
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        E5Encoder(str(tiny_model_dir), batch_size=0)


def test_a_caching_encoder_encodes_each_query_and_document_once(tiny_model_dir, monkeypatch):
    encoder = E5Encoder(str(tiny_model_dir), batch_size=2, precision="fp32", cache=True)
    plain = E5Encoder(str(tiny_model_dir), batch_size=2, precision="fp32")
    encoded = []
    real = E5Encoder._encode
    monkeypatch.setattr(E5Encoder, "_encode",
                        lambda self, texts, *args: encoded.append(list(texts)) or real(self, texts, *args))
    topics = pd.DataFrame({"qid": ["1", "2"], "query": ["Open a new tab", "window"]})
    first = encoder.query_encoder()(topics)
    again = encoder.query_encoder()(topics.assign(qid=["3", "4"]))
    np.testing.assert_array_equal(np.stack(first["query_vec"]), np.stack(again["query_vec"]))
    np.testing.assert_allclose(np.stack(first["query_vec"]), plain.encode_queries(topics["query"]), atol=1e-6)
    # the same text as a document is another vector (the passage prompt)
    assert not np.allclose(encoder.encode_docs(["window"])[0], encoder.encode_queries(["window"])[0])
    assert [texts for texts in encoded if texts != ["Open a new tab", "window"]] == [["window"]]  # the document
    assert len(encoded) == 3  # the caching encoder's queries once, the plain one's, the document


def test_rerank_depth_is_capped_and_dev_overlap_is_refused():
    with pytest.warns(UserWarning, match="rerank depth 200 is larger than the 100 documents"):
        assert check_depth(200, 100) == 100
    assert check_depth(20, 100) == 20
    for bad in (0, -5, 2.5):
        with pytest.raises(ValueError, match="rerank depth must be an integer >= 1"):
            check_depth(bad)
    dev = pd.DataFrame({"qid": ["d1", "d2", "d3"], "query": ["Hifadhi", "Funga", "Fungua"]})
    test = pd.DataFrame({"qid": ["t1", "d3"], "query": ["Hifadhi", "Fungua"]})
    with pytest.raises(ValueError, match="shares 2 of its 3 queries with the test topics"):
        check_disjoint(dev, test)
    assert without_overlap(dev, test)["qid"].tolist() == ["d2"]
    check_disjoint(without_overlap(dev, test), test)


def test_dense_pipeline_composes_with_a_reranker(tiny_model_dir, tiny_reranker, tmp_path):
    index = DenseIndex(tmp_path / "index", E5Encoder(str(tiny_model_dir), precision="fp32")).index(DOCS)
    pipeline = index.retriever(num_results=4) % 2 >> tiny_reranker
    out = pipeline(pd.DataFrame({"qid": ["1"], "query": ["Open a new tab"]}))
    assert len(out) == 2 and set(out["docno"]) <= {d["docno"] for d in DOCS}
    assert pt.inspect.transformer_inputs(pipeline) == [["qid", "query"]]
    assert {"qid", "query", "docno", "text", "score", "rank"} <= set(
        pt.inspect.transformer_outputs(pipeline, ["qid", "query"]))
