"""Bad input that once gave a silently wrong result or ran code: each ends in the right result or a clear error.
``pytest -k reliability`` runs them."""
import pickle

import pytest
import torch

from pyterrier_optical.data.bitext import read_bitext
from pyterrier_optical.data.lexicon import read_word_pairs
from pyterrier_optical.train.config import TrainingConfig
from pyterrier_optical.train.loop import Trainer

from conftest import build_tiny_cross_encoder


class RunsCode:
    """A pickle that would create ``marker`` when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_reliability_a_crafted_training_state_is_refused_not_run(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    marker = tmp_path / "ran"
    (tmp_path / "run" / "state").mkdir(parents=True)
    with open(tmp_path / "run" / "state" / "trainer.pt", "wb") as f:
        pickle.dump({"step": 3, "payload": RunsCode(marker)}, f)
    config = TrainingConfig(steps=2, batch_size=2, checkpoint_every=1, device="cpu", verbose=False)
    with pytest.raises(ValueError, match=r"trainer\.pt holds more than tensors and plain values.*Delete .*state"):
        Trainer(build_tiny_cross_encoder(tok), tok, tmp_path / "run", config)
    assert not marker.exists()


def test_reliability_a_real_training_state_loads_with_weights_only(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = TrainingConfig(steps=3, batch_size=2, checkpoint_every=1, device="cpu", verbose=False)
    trainer = Trainer(build_tiny_cross_encoder(tok), tok, tmp_path / "run", config)
    trainer.step = 2
    trainer.save_state()
    assert torch.load(tmp_path / "run" / "state" / "trainer.pt", weights_only=True)["step"] == 2
    assert Trainer(build_tiny_cross_encoder(tok), tok, tmp_path / "run", config).step == 2


def test_reliability_a_utf8_bom_is_not_part_of_the_first_field(tmp_path):
    bitext = tmp_path / "pairs.tsv"
    bitext.write_bytes(b"\xef\xbb\xbfhello world\tjambo dunia\nopen a tab\tfungua kichupo\n")
    assert read_bitext(bitext)[0] == ("hello world", "jambo dunia")
    lexicon = tmp_path / "words.tsv"
    lexicon.write_bytes(b"\xef\xbb\xbfhaus\thouse\n")
    assert read_word_pairs(lexicon, "de", "en").translate("haus") == "house"
