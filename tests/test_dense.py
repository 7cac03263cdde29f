"""DenseReranker on the real multilingual-e5-small: the same embeddings as the backbone's, ranks, bad input."""
import numpy as np
import pandas as pd
import pytest

from pyterrier_optical.rerank.backbones import mean_pooled_embeddings
from pyterrier_optical.rerank.dense import DenseReranker


@pytest.mark.slow
def test_scores_are_e5_cosines_and_ranks_follow(e5_backbone):
    dense = DenseReranker(str(e5_backbone), batch_size=2, precision="fp32")
    frame = pd.DataFrame({"qid": ["1", "1", "1", "2"], "query": ["Fungua kichupo kipya"] * 3 + ["Hifadhi"],
                          "docno": ["a", "b", "c", "a"],
                          "text": ["Open a new tab", "Close the window", None, "Open a new tab"]})
    out = dense(frame)
    assert list(out.columns[-2:]) == ["score", "rank"]
    q = mean_pooled_embeddings(dense.model_, dense.tokenizer_, ["Fungua kichupo kipya"], "query: ")
    d = mean_pooled_embeddings(dense.model_, dense.tokenizer_, ["Open a new tab", "Close the window", ""],
                               "passage: ")
    first = out[out["qid"] == "1"].set_index("docno")["score"]
    np.testing.assert_allclose(first[["a", "b", "c"]].to_numpy(), (q @ d.T)[0], atol=1e-5)
    reduced = DenseReranker(str(e5_backbone), batch_size=2)  # auto: bf16 where the CPU has it
    np.testing.assert_allclose(reduced(frame)["score"], out["score"], atol=5e-3)
    assert out[out["qid"] == "1"].iloc[0]["docno"] == "a" and out["rank"].tolist()[:3] == [0, 1, 2]
    assert dense(frame.head(0)).columns[-2:].tolist() == ["score", "rank"]
    with pytest.raises(KeyError, match="text"):
        dense(frame.drop(columns="text"))
