"""The OpenVINO backend: in fp32 it gives torch's scores and embeddings, in bf16 and int8 (NNCF) they track fp32's on
real pairs; the quantised model is cached by the weights it came from, and a missing engine names the extra."""
import builtins

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from pyterrier_optical import E5Encoder, OpticalReranker
from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.models import openvino_backend
from pyterrier_optical.util.device import bf16_supported
from pyterrier_optical.util.io import optical_home

pytestmark = pytest.mark.slow


def pairs(n=40):
    """Swahili and German test queries, each with its own English source and another test sentence."""
    out = []
    for lang in ("sw", "de"):
        bitext = load_bitext(lang, "test")[: n // 4]
        out += [(other, en) for en, other in bitext] + [(other, bitext[i - 1][0]) for i, (_, other) in
                                                         enumerate(bitext)]
    return [q for q, _ in out], [d for _, d in out]


def test_openvino_reranker_gives_torch_scores_in_fp32_and_tracks_them_in_bf16(e5_backbone):
    queries, texts = pairs()
    torch_fp32 = OpticalReranker("optical-student", precision="fp32", verbose=False).score(queries, texts)
    converted = OpticalReranker("optical-student", precision="fp32", backend="openvino", verbose=False)
    assert converted.backend_ == "openvino" and converted.backend == "openvino"
    np.testing.assert_allclose(converted.score(queries, texts), torch_fp32, atol=1e-3)
    if bf16_supported("cpu"):
        bf16 = OpticalReranker("optical-student", precision="bf16", backend="openvino", verbose=False)
        assert spearmanr(bf16.score(queries, texts), torch_fp32).statistic > 0.98


def test_int8_reranker_scores_track_fp32_and_are_cached_by_weights(e5_backbone, tiny_model_dir):
    queries, texts = pairs()
    fp32 = OpticalReranker("optical-student", precision="fp32", verbose=False)
    quantised = OpticalReranker("optical-student", precision="int8", verbose=False)
    a, b = fp32.score(queries, texts), quantised.score(queries, texts)
    assert spearmanr(a, b).statistic > 0.95  # the ranking; int8 logits are shifted a little
    frame = pd.DataFrame({"qid": ["q"] * 4, "query": [queries[0]] * 4, "docno": list("abcd"), "text": texts[:4]})
    assert sorted(quantised(frame)["rank"]) == [0, 1, 2, 3]
    folders = sorted((optical_home() / "int8").glob("cross-encoder-*"))
    built = [f.stat().st_mtime_ns for f in folders]
    OpticalReranker("optical-student", precision="int8", verbose=False)  # the same weights: the cached model
    assert [f.stat().st_mtime_ns for f in sorted((optical_home() / "int8").glob("cross-encoder-*"))] == built
    OpticalReranker(str(tiny_model_dir), precision="int8", verbose=False)  # other weights: another quantised model
    assert len(list((optical_home() / "int8").glob("cross-encoder-*"))) == len(folders) + 1


def test_openvino_dense_embeddings_equal_torch_in_fp32_and_track_them_in_int8_cached_once(e5_backbone):
    queries, texts = pairs()
    a = E5Encoder(precision="fp32").score(queries, texts)
    np.testing.assert_allclose(E5Encoder(precision="fp32", backend="openvino").score(queries, texts), a, atol=1e-4)
    b = E5Encoder(precision="int8").score(queries, texts)
    assert spearmanr(a, b).statistic > 0.95 and np.abs(a - b).max() < 0.05
    folders = sorted((optical_home() / "int8").glob("encoder-*"))
    E5Encoder(precision="int8")  # loaded again (with a pooler drawn anew: the checkpoint has none): the cached model
    assert sorted((optical_home() / "int8").glob("encoder-*")) == folders


@pytest.mark.parametrize("kwargs, message", [
    ({"precision": "int8", "backend": "torch"}, "precision 'int8' runs on backend='openvino'"),
    ({"precision": "fp32", "backend": "onnx"}, "unknown backend 'onnx'; choose from torch, openvino"),
    ({"precision": "fp32", "backend": "openvino", "device": "meta"}, "backend 'openvino' runs on CPUs"),
])
def test_a_backend_that_cannot_run_is_refused_before_loading(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OpticalReranker("no/such-model", verbose=False, **kwargs)
    with pytest.raises(ValueError, match=message):
        E5Encoder("no/such-model", **kwargs)


def test_int8_without_the_engine_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_openvino(name, *args, **kwargs):
        if name in ("openvino", "nncf"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openvino)
    with pytest.raises(ImportError, match=r"pip install 'pyterrier-optical\[openvino\]'"):
        openvino_backend.require_engine()


def test_reliability_a_corrupt_cached_int8_model_is_quantised_again(tiny_model_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OPTICAL_HOME", str(tmp_path / "home"))
    queries, texts = pairs(8)
    first = OpticalReranker(str(tiny_model_dir), precision="int8", verbose=False).score(queries, texts)
    [weights] = (tmp_path / "home" / "int8").glob("cross-encoder-*/model.bin")
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a truncated cache
    again = OpticalReranker(str(tiny_model_dir), precision="int8", verbose=False).score(queries, texts)
    assert "cannot be read" in caplog.text and "quantising it again" in caplog.text
    np.testing.assert_allclose(again, first, rtol=1e-4, atol=1e-4)
    assert weights.stat().st_size > 0 and len(list((tmp_path / "home" / "int8").iterdir())) == 1


def test_int8_on_a_platform_without_the_cpu_plugin_says_what_to_use(monkeypatch):
    import openvino

    monkeypatch.setattr(openvino.Core, "available_devices", property(lambda self: ["GPU"]))
    with pytest.raises(RuntimeError, match=r"needs OpenVINO's CPU plugin.*use backend='torch'"):
        openvino_backend.require_engine()


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_openvino_rerankers_run_in_parallel_processes_with_the_same_scores(tiny_model_dir, precision):
    """``.parallel(2)`` pickles the reranker: its compiled OpenVINO model travels as its exported form, at the same
    inference precision."""
    reranker = OpticalReranker(str(tiny_model_dir), batch_size=4, verbose=False, precision=precision,
                               backend="openvino")
    queries, texts = pairs(8)
    frame = pd.DataFrame({"qid": [f"q{i}" for i in range(len(texts))], "query": queries,
                          "docno": [f"d{i}" for i in range(len(texts))], "text": texts})
    merged = reranker(frame).merge(reranker.parallel(2)(frame), on=["qid", "docno"])
    assert len(merged) == len(texts) and (merged["rank_x"] == merged["rank_y"]).all()
    np.testing.assert_allclose(merged["score_x"], merged["score_y"], atol=1e-6)
