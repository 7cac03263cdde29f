import numpy as np
import pandas as pd
import pyterrier as pt
import pytest
from ir_measures import RR, nDCG

from pyterrier_optical import OpticalReranker
from pyterrier_optical.models.backbones import optical_home


def frame():
    return pd.DataFrame({
        "qid": ["q1", "q1", "q1", "q2", "q2"],
        "query": ["privacy settings", "privacy settings", "privacy settings", "mipangilio", "mipangilio"],
        "docno": ["d1", "d2", "d3", "d1", "d4"],
        "text": ["Privacy and security settings", "Open a new tab", None, "Privacy and security", np.nan],
        "extra": [1, 2, 3, 4, 5],
    })


def test_output_columns_scores_and_ranks(tiny_reranker):
    out = tiny_reranker(frame())
    assert list(out.columns) == ["qid", "query", "docno", "text", "extra", "score", "rank"]
    assert len(out) == 5 and out["score"].dtype == np.float32
    for qid, group in out.groupby("qid"):
        assert group["rank"].tolist() == list(range(len(group)))
        assert group["score"].is_monotonic_decreasing
    assert out["qid"].tolist() == ["q1", "q1", "q1", "q2", "q2"]
    # scores belong to their pairs: rescoring each row alone gives the same number
    for row in out.itertuples():
        alone = tiny_reranker.score([row.query], [row.text])[0]
        assert alone == pytest.approx(row.score, abs=1e-5)


def test_missing_text_column_is_named(tiny_reranker):
    with pytest.raises(KeyError, match="text"):
        tiny_reranker(frame().drop(columns=["text"]))


def test_empty_frame_returns_score_and_rank(tiny_reranker):
    out = tiny_reranker(frame().iloc[:0])
    assert len(out) == 0 and {"score", "rank"} <= set(out.columns)


def test_inspection(tiny_reranker):
    assert set(pt.inspect.transformer_inputs(tiny_reranker)[0]) == {"qid", "docno", "query", "text"}
    assert {"score", "rank"} <= set(pt.inspect.transformer_outputs(tiny_reranker, ["qid", "docno", "query", "text"]))


def test_nan_and_empty_text_score_as_empty_string(tiny_reranker):
    s = tiny_reranker.score(["q", "q", "q"], [None, float("nan"), ""])
    assert s[0] == pytest.approx(s[2], abs=1e-6) and s[1] == pytest.approx(s[2], abs=1e-6)


def test_overlong_document_and_query_are_truncated(tiny_reranker):
    words = " ".join(["privacy"] * 10_000)
    s = tiny_reranker.score(["privacy settings", words], [words, "short"])
    assert np.isfinite(s).all()
    # only the first max_length tokens of the document count
    prefix = " ".join(["privacy"] * 300)
    assert tiny_reranker.score(["privacy settings"], [prefix])[0] == pytest.approx(s[0], abs=1e-5)


def test_a_shortened_query_is_reported_once(tiny_reranker, caplog):
    query = " ".join(["bluetooth"] * 400) + " once"
    for _ in range(3):  # as training meets the same query every epoch
        tiny_reranker.score([query, query], ["a", "b"])
    assert caplog.text.count("exceed") == 1 and "1 queries exceed" in caplog.text


def test_batch_size_does_not_change_scores(tiny_model_dir):
    queries = ["privacy settings"] * 7 + ["open tab"] * 7
    texts = [f"{'word ' * i}privacy and security" for i in range(14)]
    one = OpticalReranker(str(tiny_model_dir), batch_size=1, verbose=False, precision="fp32").score(queries, texts)
    many = OpticalReranker(str(tiny_model_dir), batch_size=64, verbose=False, precision="fp32").score(queries, texts)
    np.testing.assert_allclose(one, many, atol=1e-5)


def test_the_default_batch_size_is_the_cpus_and_an_explicit_one_is_kept(tiny_model_dir):
    from pyterrier_optical import E5Encoder
    from pyterrier_optical.util.device import CPU_BATCH_SIZE, inference_batch_size

    assert OpticalReranker(str(tiny_model_dir), device="cpu", verbose=False).batch_size == CPU_BATCH_SIZE == 16
    assert E5Encoder(str(tiny_model_dir), device="cpu").batch_size == CPU_BATCH_SIZE
    assert OpticalReranker(str(tiny_model_dir), batch_size=5, device="cpu", verbose=False).batch_size == 5
    assert inference_batch_size(None, "cuda", 32) == 32 and inference_batch_size(7, "cuda", 32) == 7
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        OpticalReranker(str(tiny_model_dir), batch_size=0, verbose=False)


def test_rank_orders_documents(tiny_reranker):
    docs = ["Privacy and security settings", "Open a new tab", "Bookmarks"]
    ranked = tiny_reranker.rank("privacy settings", docs, top_k=2, return_documents=True)
    scores = tiny_reranker.score(["privacy settings"] * 3, docs)
    assert [r["corpus_id"] for r in ranked] == list(np.argsort(-scores)[:2])
    assert ranked[0]["text"] == docs[ranked[0]["corpus_id"]]


def test_save_and_load_round_trip(tiny_reranker, tmp_path):
    tiny_reranker.save_pretrained(tmp_path / "ckpt", languages=["sw"])
    again = OpticalReranker.from_pretrained(tmp_path / "ckpt", verbose=False, precision="fp32")
    assert again.metadata_["languages"] == ["sw"] and again.metadata_["max_length"] == tiny_reranker.max_length
    f = frame()
    np.testing.assert_allclose(again(f)["score"], tiny_reranker(f)["score"], atol=1e-6)


def test_loaded_model_object(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rr = OpticalReranker(model, tokenizer=tokenizer, verbose=False)
    assert len(rr(frame())) == 5
    with pytest.raises(ValueError, match="tokenizer"):
        OpticalReranker(model)


def test_missing_model_path_names_the_cache(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        OpticalReranker(str(tmp_path / "nowhere"))
    assert "does not exist" in str(e.value) and str(optical_home()) in str(e.value)


def test_pipeline_with_experiment(tiny_reranker):
    topics = pd.DataFrame({"qid": ["q1", "q2"], "query": ["privacy settings", "mipangilio"]})
    qrels = pd.DataFrame({"qid": ["q1", "q2"], "docno": ["d1", "d1"], "label": [1, 1]})
    first = pt.Transformer.from_df(frame().drop(columns=["extra"]).assign(score=[3.0, 2, 1, 2, 1]))
    res = pt.Experiment([first, first >> tiny_reranker], topics, qrels, [nDCG @ 10, RR @ 10], names=["first", "rr"])
    assert list(res["name"]) == ["first", "rr"] and res["RR@10"].between(0, 1).all()


def test_parallel_reranking_gives_the_same_scores(tiny_reranker):
    """PyTerrier's .parallel() (joblib, 2 processes) scores each query where it lands: same scores, same ranks."""
    f = pd.DataFrame({"qid": [f"q{i // 3}" for i in range(12)], "query": ["privacy settings"] * 6 + ["mipangilio"] * 6,
                      "docno": [f"d{i}" for i in range(12)], "text": [f"text number {i} privacy" for i in range(12)]})
    merged = tiny_reranker(f).merge(tiny_reranker.parallel(2)(f), on=["qid", "docno"])
    assert len(merged) == 12 and (merged["rank_x"] == merged["rank_y"]).all()
    np.testing.assert_allclose(merged["score_x"], merged["score_y"], atol=1e-6)
