"""NMTTranslate on a tiny randomly initialised MarianMT model built here (no hub): plumbing, cache, errors."""
import shutil

import pandas as pd
import pytest
import torch

from pyterrier_optical.retrieve.translate import NMTTranslate

from conftest import build_tiny_tokenizer, fixture_sentences


def build_tiny_marian(folder, language_tokens=()):
    from transformers import MarianConfig, MarianMTModel

    tokenizer = build_tiny_tokenizer(fixture_sentences())
    tokenizer.add_special_tokens({"eos_token": "[SEP]", "bos_token": "[CLS]"})
    if language_tokens:
        tokenizer.add_tokens(list(language_tokens), special_tokens=True)
    torch.manual_seed(0)
    config = MarianConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                          decoder_ffn_dim=32, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                          eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
                          forced_eos_token_id=tokenizer.eos_token_id)
    model = MarianMTModel(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def marian(tmp_path_factory):
    return build_tiny_marian(tmp_path_factory.mktemp("marian"))


def queries(*texts):
    return pd.DataFrame({"qid": [str(i) for i in range(len(texts))], "query": list(texts)})


def test_translates_keeps_original_and_caches(marian, tmp_path, monkeypatch):
    nmt = NMTTranslate(str(marian), "sw", "en", batch_size=2, max_length=8, cache_dir=tmp_path, verbose=False)
    out = nmt(queries("Fungua kichupo kipya", "", "Hifadhi ukurasa", "Fungua kichupo kipya"))
    assert out["query_0"].tolist() == ["Fungua kichupo kipya", "", "Hifadhi ukurasa", "Fungua kichupo kipya"]
    assert out["query"][1] == "" and out["query"][0] == out["query"][3]
    # the translation is the model's own greedy output
    enc = nmt.tokenizer_(["Hifadhi ukurasa"], return_tensors="pt")
    expected = nmt.tokenizer_.batch_decode(nmt.model_.generate(**enc, max_new_tokens=7, num_beams=1),
                                           skip_special_tokens=True)[0].strip() or "Hifadhi ukurasa"
    assert out["query"][2] == expected
    # a second transformer of the same settings on the same cache never calls the model
    again = NMTTranslate(str(marian), "sw", "en", max_length=8, cache_dir=tmp_path, verbose=False)
    monkeypatch.setattr(again.model_, "generate", lambda **kw: (_ for _ in ()).throw(AssertionError("not cached")))
    assert again(queries("Fungua kichupo kipya", "Hifadhi ukurasa"))["query"].tolist() == out["query"][[0, 2]].tolist()
    # other settings, or other weights saved under the same name, are never served these translations
    others = [NMTTranslate(str(marian), "sw", "en", max_length=16, cache_dir=tmp_path, verbose=False),
              NMTTranslate(str(marian), "sw", "en", max_length=8, num_beams=2, cache_dir=tmp_path, verbose=False)]
    same_name = tmp_path / "model"
    shutil.copytree(marian, same_name)
    first = NMTTranslate(str(same_name), "sw", "en", max_length=8, cache_dir=tmp_path, verbose=False)
    with torch.no_grad():
        next(first.model_.parameters()).add_(1.0)
    first.model_.save_pretrained(same_name)
    others.append(NMTTranslate(str(same_name), "sw", "en", max_length=8, cache_dir=tmp_path, verbose=False))
    assert len({nmt.cache_.path, first.cache_.path, *(o.cache_.path for o in others)}) == 5


def test_empty_translation_keeps_the_original(marian, tmp_path, caplog):
    nmt = NMTTranslate(str(marian), "sw", "en", cache_dir=tmp_path, verbose=False)
    with torch.no_grad():  # make end-of-sentence the only thing the model ever says
        nmt.model_.final_logits_bias[0, nmt.tokenizer_.eos_token_id] = 1e4
    out = nmt(queries("Fungua faili"))
    assert out["query"].tolist() == ["Fungua faili"] and nmt.empty_translations_ == 1
    assert "came back empty" in caplog.text


def test_corrupt_cache_is_rebuilt(marian, tmp_path, caplog):
    nmt = NMTTranslate(str(marian), "sw", "en", cache_dir=tmp_path, verbose=False)
    nmt(queries("Fungua faili", "Funga dirisha"))
    with open(nmt.cache_.path, "a") as f:
        f.write('{"text": "broken\n\x00garbage\n')
    again = NMTTranslate(str(marian), "sw", "en", cache_dir=tmp_path, verbose=False)
    assert "corrupt" in caplog.text and set(again.cache_.entries) == {"Fungua faili", "Funga dirisha"}
    assert len(again.cache_.path.read_text().splitlines()) == 2


def test_language_codes_and_loading_errors(tmp_path):
    folder = build_tiny_marian(tmp_path / "multi", language_tokens=(">>en<<", ">>sw<<", ">>yo<<"))
    nmt = NMTTranslate(str(folder), "sw", "en", cache_dir=tmp_path, verbose=False)
    assert sorted(nmt.codes_) == ["en", "sw", "yo"] and nmt._prefix == ">>en<< "
    with pytest.raises(ValueError, match="target language 'xx'; its codes: en, sw, yo"):
        NMTTranslate(str(folder), "sw", "xx", cache_dir=tmp_path, verbose=False)
    with pytest.raises(OSError, match="local copy"):
        NMTTranslate(str(tmp_path / "no-such-model"), "sw", "en", cache_dir=tmp_path, verbose=False)
    with pytest.raises(KeyError, match="query"):
        nmt(pd.DataFrame({"qid": ["1"]}))
