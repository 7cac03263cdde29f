"""The guarantees every transformer of the package gives, each tested by kind over one table rather than case by case
(issue 44, items 1, 3 and 6):

1. **Saved runs are keyed by what changes the results.** Every transformer (and index) of the package is ``Keyed``:
   its ``cache_key()`` holds each constructor argument (read from the signature) but those its class lists in
   ``unkeyed`` with a reason, and the digests of the weights, tokenizer, lexicon or index it reads. For each class and
   each argument in turn, a changed value changes the key and the saved-run fingerprint (the run is not served); a
   new argument nobody keyed fails here. Content changed at the same path or in the same object changes the key too,
   equal transformers share a key, and a value no key can describe is never served.
2. **Every public argument is checked where it is given**: each bad value of each argument of the public
   constructors and methods raises a one-line ValueError naming the argument and the value, before any model is
   loaded; a new argument without bad values (or a reason it needs no check) fails here.
3. **A device the machine lacks is named before any model is loaded**, for every component that takes a device.
"""
import functools
import inspect
import math
import re
import shutil
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyterrier as pt
import pyterrier_dr
import pytest
import torch

from pyterrier_optical import (CodeSwitch, DenseIndex, E5Encoder, LexiconTranslate, MultilingualBM25, NMTTranslate,
                               OpticalCheckpoint, OpticalReranker)
from pyterrier_optical.data.lexicon import Lexicon
from pyterrier_optical.experiment.saved_runs import run_fingerprint
from pyterrier_optical.rerank.fusion import (FIRST_SCORE, KeepScore, LinearFusion, fused, fusion_curve, fusion_grid,
                                             tune_fusion_weight)
from pyterrier_optical.retrieve.bm25 import MultilingualBM25Retriever
from pyterrier_optical.retrieve.codeswitch import code_switch_pairs
from pyterrier_optical.retrieve.dense import DenseRetriever, DenseScorer, TextDocEncoder, TextQueryEncoder, TextScorer
from pyterrier_optical.retrieve.lucene import LuceneBM25, LuceneBM25Index
from pyterrier_optical.retrieve.texts import TextLoader
from pyterrier_optical.util.device import bf16_supported, infer_device
from pyterrier_optical.util.keys import Keyed, constructor_arguments, describe

from test_transformers import (corpus, dense_index, encoder, lucene_index, marian_dir, package_classes, pisa_index,
                               reranker, scratch, tiny_dir)

TOPICS = pd.DataFrame({"qid": ["1", "2"], "query": ["open a new tab", "privacy settings"]})
OTHER_PRECISION = "bf16" if bf16_supported("cpu") else "auto"


@functools.cache
def loaded(seed: int = 0, model_max_length: int | None = None):
    """A tiny cross-encoder and its tokenizer as objects (weights drawn with ``seed``)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    kwargs = {"model_max_length": model_max_length} if model_max_length else {}
    return (AutoModelForSequenceClassification.from_pretrained(tiny_dir(seed)),
            AutoTokenizer.from_pretrained(tiny_dir(seed), **kwargs))


def lexicon(entries=None, source="en", target="sw") -> Lexicon:
    return Lexicon(entries or {"open": ["fungua"], "tab": ["kichupo"]}, source, target)


# --- 1. keys -----------------------------------------------------------------------------------------------------

@dataclass
class KeyCase:
    """How to build one transformer (``build(**overrides)``) and, for each argument its class keys, another value."""

    build: callable
    changes: dict = field(default_factory=dict)  # argument -> a function giving a value that changes the results


def built(cls, **base):
    return lambda **kwargs: cls(**{**base, **kwargs})


KEY_CASES = {
    OpticalReranker: KeyCase(
        lambda **kw: OpticalReranker(**{"model": loaded()[0], "tokenizer": loaded()[1], "batch_size": 4,
                                        "verbose": False, "precision": "fp32", **kw}),
        {"model": lambda: loaded(1)[0], "tokenizer": lambda: loaded(0, 64)[1], "text_field": lambda: "body",
         "query_field": lambda: "title", "max_length": lambda: 16, "precision": lambda: OTHER_PRECISION,
         "backend": lambda: "openvino"}),
    E5Encoder: KeyCase(
        lambda **kw: E5Encoder(**{"model_name": tiny_dir(), "batch_size": 4, "precision": "fp32", **kw}),
        {"model_name": lambda: tiny_dir(1), "max_length": lambda: 16, "precision": lambda: OTHER_PRECISION,
         "text_field": lambda: "body", "backend": lambda: "openvino"}),
    TextQueryEncoder: KeyCase(lambda **kw: TextQueryEncoder(**{"bi_encoder_model": encoder(), **kw}),
                              {"bi_encoder_model": lambda: encoder(16)}),
    TextDocEncoder: KeyCase(lambda **kw: TextDocEncoder(**{"bi_encoder_model": encoder(), **kw}),
                            {"bi_encoder_model": lambda: encoder(16), "text_field": lambda: "body"}),
    TextScorer: KeyCase(lambda **kw: TextScorer(**{"bi_encoder_model": encoder(), **kw}),
                        {"bi_encoder_model": lambda: encoder(16), "text_field": lambda: "body",
                         "sim_fn": lambda: pyterrier_dr.SimFn.cos}),
    DenseIndex: KeyCase(lambda **kw: DenseIndex(**{"path": scratch() / "dense-200", "encoder": encoder(), **kw}),
                        {"encoder": lambda: encoder(16)}),
    DenseRetriever: KeyCase(lambda **kw: DenseRetriever(**{"index": dense_index(), "num_results": 5, **kw}),
                            {"index": lambda: dense_index(100), "num_results": lambda: 3}),
    DenseScorer: KeyCase(lambda **kw: DenseScorer(**{"index": dense_index(), **kw}),
                         {"index": lambda: dense_index(100)}),
    TextLoader: KeyCase(lambda **kw: TextLoader(**{"index": pisa_index(), **kw}),
                        {"index": lambda: pisa_index(100), "text_field": lambda: "body"}),
    MultilingualBM25: KeyCase(lambda **kw: MultilingualBM25(**{"path": scratch() / "unbuilt-bm25", **kw}),
                              {"lang": lambda: "de", "stemmer": lambda: None, "stopwords": lambda: ("the",)}),
    MultilingualBM25Retriever: KeyCase(
        lambda **kw: MultilingualBM25Retriever(**{"index": pisa_index(), "num_results": 5, **kw}),
        {"index": lambda: pisa_index(100), "k1": lambda: 1.2, "b": lambda: 0.75, "num_results": lambda: 3,
         "include_text": lambda: False}),
    LuceneBM25Index: KeyCase(lambda **kw: LuceneBM25Index(**{"path": scratch() / "unbuilt-lucene", **kw}),
                             {"lang": lambda: "de"}),
    LuceneBM25: KeyCase(lambda **kw: LuceneBM25(**{"index": lucene_index(), "num_results": 5, **kw}),
                        {"index": lambda: lucene_index(100), "k1": lambda: 1.2, "b": lambda: 0.75,
                         "num_results": lambda: 3, "include_text": lambda: False}),
    CodeSwitch: KeyCase(lambda **kw: CodeSwitch(**{"lexicons": lexicon(), **kw}),
                        {"lexicons": lambda: lexicon({"open": ["öffnen"]}, target="de"), "p": lambda: 0.3,
                         "seed": lambda: 4, "field": lambda: "text"}),
    LexiconTranslate: KeyCase(lambda **kw: LexiconTranslate(**{"lexicon": lexicon(), **kw}),
                              {"lexicon": lambda: lexicon({"open": ["fungua"], "tab": ["tabo"]})}),
    NMTTranslate: KeyCase(
        lambda **kw: NMTTranslate(**{"model": marian_dir(), "source_lang": "sw", "max_length": 8,
                                     "cache_dir": scratch() / "nmt", "verbose": False, **kw}),
        {"model": lambda: marian_dir(1), "source_lang": lambda: "de", "target_lang": lambda: "fr",
         "max_length": lambda: 16, "num_beams": lambda: 2}),
    LinearFusion: KeyCase(lambda **kw: LinearFusion(**{"weight": 0.3, **kw}),
                          {"weight": lambda: 0.7, "method": lambda: "rrf", "first": lambda: "bm25_score"}),
    KeepScore: KeyCase(lambda **kw: KeepScore(**kw), {"column": lambda: "bm25_score"}),
}
KEYED_ARGUMENTS = [(cls, name) for cls in KEY_CASES for name in constructor_arguments(cls)
                   if name not in cls.unkeyed]


def key_id(value) -> str:
    return value.__name__ if isinstance(value, type) else str(value)


def fingerprint(transformer):
    return run_fingerprint(transformer, TOPICS)


def test_every_class_of_the_package_that_computes_is_keyed_and_in_the_table():
    classes = package_classes(pt.Transformer) + package_classes(Keyed)
    assert not [c.__qualname__ for c in classes if not issubclass(c, Keyed)], "make them Keyed"
    assert not [c.__qualname__ for c in classes if c not in KEY_CASES and c is not Keyed], "add them to KEY_CASES"


@pytest.mark.parametrize("cls", list(KEY_CASES), ids=key_id)
def test_each_unkeyed_argument_is_an_argument_with_its_reason(cls):
    arguments = constructor_arguments(cls)
    for name, reason in cls.unkeyed.items():
        assert name in arguments, f"{cls.__name__}.unkeyed names {name!r}, not an argument"
        assert isinstance(reason, str) and len(reason) > 10, f"{cls.__name__}.unkeyed[{name!r}]: say why"


@pytest.mark.parametrize("cls, name", KEYED_ARGUMENTS, ids=lambda v: key_id(v))
def test_each_keyed_argument_changes_the_key_and_the_saved_run_is_not_served(cls, name):
    case = KEY_CASES[cls]
    assert name in case.changes, (f"{cls.__name__}({name}=...) is a new argument: give KEY_CASES a value that changes "
                                  f"the results, or list it in {cls.__name__}.unkeyed with the reason it cannot")
    base, changed = case.build(), case.build(**{name: case.changes[name]()})
    assert base.cache_key() != changed.cache_key()
    if isinstance(base, pt.Transformer):
        assert fingerprint(base) is not None and fingerprint(base) != fingerprint(changed)


@pytest.mark.parametrize("cls", list(KEY_CASES), ids=key_id)
def test_equal_transformers_share_their_key_and_saved_runs(cls):
    first, second = KEY_CASES[cls].build(), KEY_CASES[cls].build()
    assert first is not second and first.cache_key() == second.cache_key()
    if isinstance(first, pt.Transformer):
        assert fingerprint(first) == fingerprint(second) is not None


def copy_folder(source, target):
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    return str(target)


def keys(transformer) -> tuple:
    """The key of a transformer and the fingerprint of its saved runs, now."""
    return transformer.cache_key(), fingerprint(transformer)


def model_saved_again(make, folders):
    """Keys of a model loaded from a folder, and of one loaded after other weights were saved at the same path."""
    path = scratch() / f"saved-again-{make.__name__}"
    before = keys(make(copy_folder(folders[0], path)))
    return before, keys(make(copy_folder(folders[1], path)))


def index_built_again(make_index, stage):
    """Keys of a stage over an index, and of one over the index rebuilt at the same path with other documents."""
    before = keys(stage(make_index(overwrite=True).index(corpus()[:60])))
    return before, keys(stage(make_index(overwrite=True).index(corpus()[60:120])))


def lexicon_changed(make):
    """Keys of a transformer, and of the same one after its lexicon's entries changed."""
    lex = lexicon()
    transformer = make(lex)
    before = keys(transformer)
    lex.entries["open"] = ["funguo"]
    return before, keys(transformer)


def reranker_at(path):
    return OpticalReranker(path, verbose=False, precision="fp32")


def encoder_at(path):
    return E5Encoder(path, precision="fp32")


def translator_at(path):
    return NMTTranslate(path, "sw", max_length=8, cache_dir=scratch() / "nmt", verbose=False)


CONTENT_CASES = {
    "reranker weights saved again at the same path": lambda: model_saved_again(reranker_at, [tiny_dir(), tiny_dir(1)]),
    "encoder weights saved again at the same path": lambda: model_saved_again(encoder_at, [tiny_dir(), tiny_dir(1)]),
    "translation model saved again at the same path": lambda: model_saved_again(
        translator_at, [marian_dir(), marian_dir(1)]),
    "BM25 index rebuilt with other documents": lambda: index_built_again(
        lambda **kw: MultilingualBM25(scratch() / "rebuilt-bm25", verbose=False, **kw), lambda i: i.bm25()),
    "dense index rebuilt with other documents": lambda: index_built_again(
        lambda **kw: DenseIndex(scratch() / "rebuilt-dense", encoder()), lambda i: i.retriever()),
    "dense scorer of an index rebuilt with other documents": lambda: index_built_again(
        lambda **kw: DenseIndex(scratch() / "rebuilt-dense-scorer", encoder()), lambda i: i.scorer()),
    "dense texts of an index rebuilt with other documents": lambda: index_built_again(
        lambda **kw: DenseIndex(scratch() / "rebuilt-dense-texts", encoder()), lambda i: i.text_loader()),
    "BM25 texts of an index rebuilt with other documents": lambda: index_built_again(
        lambda **kw: MultilingualBM25(scratch() / "rebuilt-bm25-texts", verbose=False, **kw),
        lambda i: i.text_loader()),
    "Lucene index rebuilt with other documents": lambda: index_built_again(
        lambda **kw: LuceneBM25Index(scratch() / "rebuilt-lucene", verbose=False, **kw), lambda i: i.bm25()),
    "lexicon of a translation changed": lambda: lexicon_changed(LexiconTranslate),
    "lexicon of a code switch changed": lambda: lexicon_changed(CodeSwitch),
}


@pytest.mark.parametrize("case", list(CONTENT_CASES))
def test_content_changed_at_the_same_path_or_object_changes_the_key(case):
    (key, run), (other_key, other_run) = CONTENT_CASES[case]()
    assert key != other_key and run is not None and run != other_run


STALE_CASES = {"BM25": (lambda path: MultilingualBM25(path, verbose=False, overwrite=True), lambda i: i.bm25()),
               "dense": (lambda path: DenseIndex(path, encoder()), lambda i: i.retriever()),
               "Lucene": (lambda path: LuceneBM25Index(path, verbose=False, overwrite=True), lambda i: i.bm25())}


@pytest.mark.parametrize("case", list(STALE_CASES))
def test_a_retriever_opened_before_its_index_was_rebuilt_matches_neither_index(case):
    """A retriever keeps what it opened (PISA's or Lucene's files, vectors, texts): after the index is rebuilt by
    another object its key matches neither the old index's nor the new one's, so its runs are never served."""
    make_index, stage = STALE_CASES[case]
    path = scratch() / f"stale-{case}"
    stale = stage(make_index(path).index(corpus()[:60]))
    opened_before = stale.cache_key()
    fresh = stage(make_index(path).index(corpus()[60:120]))
    assert len({opened_before, stale.cache_key(), fresh.cache_key()}) == 3


class Opaque:
    """An object of a class no key can describe."""


class WithAnOpaqueArgument(Keyed, pt.Transformer):
    def __init__(self, thing):
        self.thing = thing

    def transform(self, inp):
        return inp


def test_a_value_no_key_can_describe_is_never_served_and_says_so():
    with pytest.warns(UserWarning, match=r"where=.*Opaque cannot be described .* never reused"):
        assert describe(Opaque(), "where") != describe(Opaque(), "where")
    transformer = WithAnOpaqueArgument(Opaque())
    with pytest.warns(UserWarning, match=r"WithAnOpaqueArgument\(thing\)=.*Opaque"):
        assert transformer.cache_key() != transformer.cache_key()
        assert fingerprint(transformer) != fingerprint(transformer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert describe([1, 2.5, float("nan"), "x", None, (True,)], "plain") == [1, 2.5, "nan", "x", None, [True]]


def test_a_saved_run_is_served_only_to_the_same_reranker(tmp_path, monkeypatch):
    """The issue's case end to end: the saved run of a reranker with max_length 16 is reused by the same reranker and
    not by one with max_length 128 (nor by one whose checkpoint was saved again with other weights)."""
    from pyterrier_optical.experiment.compare import compare

    docs = corpus()[:5]
    topics = pd.DataFrame({"qid": [str(i) for i in range(5)], "query": [" ".join(d["text"].split()[:4]) for d in docs]})
    qrels = pd.DataFrame({"qid": topics["qid"], "docno": [d["docno"] for d in docs], "label": 1})
    scored = []
    real = OpticalReranker.score
    monkeypatch.setattr(OpticalReranker, "score", lambda self, queries, texts, batch_size=None: (
        len(queries) and scored.append(self.max_length)) or real(self, queries, texts, batch_size))  # not inspection

    def run(rr):
        compare({"rr": pisa_index().bm25(num_results=5) >> rr}, {"sw": (topics, qrels)}, ["RR@10"],
                save_dir=tmp_path, correction=None)

    path = copy_folder(tiny_dir(), tmp_path / "ckpt")
    run(reranker(model=path, max_length=16))
    run(reranker(model=path, max_length=16))
    assert scored == [16]  # served
    run(reranker(model=path, max_length=128))
    assert scored == [16, 128]  # not served
    copy_folder(tiny_dir(1), path)
    run(reranker(model=path, max_length=128))
    assert scored == [16, 128, 128]  # other weights at the same path: not served


# --- 2. arguments --------------------------------------------------------------------------------------------------

NAN, INF = math.nan, math.inf
NOT_A_COUNT = [0, -1, "5", 2.5, True, None]
NOT_AN_OPTIONAL_COUNT = [0, -1, "5", 2.5, True]
NOT_A_FLAG = ["yes", None, 1]
NOT_AN_OPTIONAL_FLAG = ["yes", 1]
NOT_A_NAME = ["", 5, None]
NOT_A_PATH = [5, "", None]
NOT_A_DEVICE = ["gpu", 3.5]


@dataclass
class ArgumentCase:
    """A public callable, valid arguments for it, bad values of each argument, and the arguments not checked (with
    the reason)."""

    call: callable
    valid: dict
    bad: dict
    unchecked: dict = field(default_factory=dict)


def method(factory, name):
    """A call of method ``name`` of the object ``factory()`` gives, built on first use."""
    factory = functools.cache(factory)

    def call(**kwargs):
        return getattr(factory(), name)(**kwargs)

    call.signature_of = lambda: getattr(factory(), name)
    return call


def run_frame():
    return pd.DataFrame({"qid": ["1", "1"], "docno": ["a", "b"], "score": [2.0, 1.0], "first_score": [1.0, 2.0]})


QRELS = pd.DataFrame({"qid": ["1"], "docno": ["a"], "label": [1]})
NOT_RESULT_CHANGING = "checked where it is used"

ARGUMENT_CASES = {
    "OpticalReranker": ArgumentCase(OpticalReranker, {"model": "no/such-model", "verbose": False}, {
        "model": [5, None], "batch_size": NOT_AN_OPTIONAL_COUNT, "text_field": NOT_A_NAME, "query_field": NOT_A_NAME,
        "device": NOT_A_DEVICE, "max_length": [4, -1, "256", 2.5, None], "verbose": NOT_A_FLAG,
        "tokenizer": [object()], "precision": ["bf32", None], "backend": ["onnx", 5]}),
    "OpticalReranker.score": ArgumentCase(method(reranker, "score"), {"queries": ["q"], "texts": ["t"]}, {
        "queries": ["one query"], "texts": ["one text", 5], "batch_size": NOT_AN_OPTIONAL_COUNT}),
    "OpticalReranker.rank": ArgumentCase(method(reranker, "rank"), {"query": "q", "documents": ["a", "b"]}, {
        "query": [5, None], "documents": ["xyz", 5], "top_k": NOT_AN_OPTIONAL_COUNT,
        "return_documents": NOT_A_FLAG}),
    "OpticalReranker.from_pretrained": ArgumentCase(
        method(lambda: OpticalReranker, "from_pretrained"), {"path": "no/such-model", "verbose": False},
        {"batch_size": [0]}, {"path": "read as the model argument (a folder or hub id; str() of it)"}),
    "OpticalReranker.save_pretrained": ArgumentCase(
        method(reranker, "save_pretrained"), {"path": "unused"}, {},
        {"path": "checked by the checkpoint writer (models.checkpoint), which refuses folders not its own"}),
    "OpticalCheckpoint": ArgumentCase(OpticalCheckpoint, {"path": "unused"}, {"path": [5, None, ""]}),
    "E5Encoder": ArgumentCase(E5Encoder, {"model_name": "no/such-model"}, {
        "model_name": NOT_A_PATH, "batch_size": NOT_AN_OPTIONAL_COUNT, "device": NOT_A_DEVICE,
        "max_length": [0, -1, "256", 2.5, None], "precision": ["bf32", None], "text_field": NOT_A_NAME,
        "verbose": NOT_A_FLAG, "cache": NOT_A_FLAG, "backend": ["onnx", 5]}),
    "E5Encoder.score": ArgumentCase(method(encoder, "score"), {"queries": ["q"], "texts": ["t"]}, {
        "queries": ["one query", 5], "texts": ["one text"]}),
    "E5Encoder.encode_queries": ArgumentCase(method(encoder, "encode_queries"), {"texts": ["q"]}, {
        "texts": ["one query", 5], "batch_size": NOT_AN_OPTIONAL_COUNT}),
    "E5Encoder.encode_docs": ArgumentCase(method(encoder, "encode_docs"), {"texts": ["d"]}, {
        "texts": ["one text"], "batch_size": NOT_AN_OPTIONAL_COUNT}),
    "E5Encoder.query_encoder": ArgumentCase(method(encoder, "query_encoder"), {}, {
        "verbose": NOT_AN_OPTIONAL_FLAG, "batch_size": NOT_AN_OPTIONAL_COUNT}),
    "E5Encoder.doc_encoder": ArgumentCase(method(encoder, "doc_encoder"), {}, {
        "verbose": NOT_AN_OPTIONAL_FLAG, "batch_size": NOT_AN_OPTIONAL_COUNT}),
    "E5Encoder.text_scorer": ArgumentCase(method(encoder, "text_scorer"), {}, {
        "verbose": NOT_AN_OPTIONAL_FLAG, "batch_size": NOT_AN_OPTIONAL_COUNT, "sim_fn": ["dot", 1]}),
    "E5Encoder.scorer": ArgumentCase(method(encoder, "scorer"), {}, {
        "verbose": NOT_AN_OPTIONAL_FLAG, "batch_size": NOT_AN_OPTIONAL_COUNT, "sim_fn": ["dot"]}),
    "DenseIndex": ArgumentCase(DenseIndex, {"path": "unused", "encoder": None}, {
        "path": NOT_A_PATH, "encoder": ["multilingual-e5-small", 5], "verbose": NOT_A_FLAG}),
    "DenseIndex.retriever": ArgumentCase(method(dense_index, "retriever"), {}, {"num_results": NOT_A_COUNT}),
    "DenseRetriever": ArgumentCase(DenseRetriever, {"index": None}, {
        "index": ["runs/index", 5], "num_results": NOT_A_COUNT}),
    "DenseScorer": ArgumentCase(DenseScorer, {"index": None}, {"index": ["runs/index"]}),
    "TextLoader": ArgumentCase(TextLoader, {"index": None}, {"index": ["runs/index", 5], "text_field": NOT_A_NAME}),
    "MultilingualBM25": ArgumentCase(MultilingualBM25, {"path": "unused-bm25"}, {
        "path": NOT_A_PATH, "lang": [5, "xx", ""], "stemmer": [5, "xx"], "stopwords": ["the", [1], None],
        "overwrite": NOT_A_FLAG, "verbose": NOT_A_FLAG}),
    "MultilingualBM25.bm25": ArgumentCase(method(pisa_index, "bm25"), {}, {
        "k1": [-1, NAN, INF, "1.2", None], "b": [5, -1, NAN, "0.4", None], "num_results": NOT_A_COUNT,
        "include_text": NOT_A_FLAG, "verbose": NOT_A_FLAG, "threads": [0, 1.5, None]}),
    "MultilingualBM25Retriever": ArgumentCase(MultilingualBM25Retriever, {"index": None}, {
        "index": ["runs/bm25", 5]}, {arg: "the same checks as MultilingualBM25.bm25 (one constructor behind both)"
                                     for arg in ("k1", "b", "num_results", "include_text", "verbose", "threads")}),
    "MultilingualBM25.text_loader": ArgumentCase(method(pisa_index, "text_loader"), {}, {
        "text_field": NOT_A_NAME}),
    "LuceneBM25Index": ArgumentCase(LuceneBM25Index, {"path": "unused-lucene"}, {
        "path": NOT_A_PATH, "lang": [5, "xx"], "overwrite": NOT_A_FLAG, "threads": [0, 1.5],
        "verbose": NOT_A_FLAG}),
    "LuceneBM25Index.bm25": ArgumentCase(method(lucene_index, "bm25"), {}, {
        "k1": [-1, NAN, "1.2"], "b": [5, -1, NAN], "num_results": NOT_A_COUNT, "threads": [0, 1.5],
        "include_text": NOT_A_FLAG}),
    "LuceneBM25": ArgumentCase(LuceneBM25, {"index": None}, {"index": ["runs/lucene", 5]},
                               {arg: "the same checks as LuceneBM25Index.bm25 (one constructor behind both)"
                                for arg in ("k1", "b", "num_results", "threads", "include_text")}),
    "CodeSwitch": ArgumentCase(CodeSwitch, {"lexicons": lexicon()}, {
        "lexicons": [None, "sw", [], {"open": ["fungua"]}], "p": [1.5, -0.1, NAN, "0.5", None],
        "seed": [-1, "0", 1.5, None], "field": NOT_A_NAME}),
    "code_switch_pairs": ArgumentCase(code_switch_pairs, {"pairs": [("open tab", "fungua")], "lexicons": lexicon(),
                                                          "p": 0.5}, {
        "lexicons": [None], "p": [2, NAN], "seed": [-1, "0"], "side": [2, "0", None]},
        {"pairs": "read as (english, other) pairs; a pair that is not one fails on indexing it"}),
    "LexiconTranslate": ArgumentCase(LexiconTranslate, {"lexicon": lexicon()}, {
        "lexicon": [None, "sw", {"open": ["fungua"]}]}),
    "NMTTranslate": ArgumentCase(NMTTranslate, {"model": "no/such-model", "source_lang": "sw"}, {
        "model": NOT_A_PATH, "source_lang": NOT_A_NAME, "target_lang": NOT_A_NAME,
        "batch_size": NOT_A_COUNT, "device": NOT_A_DEVICE, "max_length": [1, -1, "128", 2.5, None],
        "num_beams": [0, 1.5, None], "cache_dir": [5, ""], "verbose": NOT_A_FLAG}),
    "NMTTranslate.translate": ArgumentCase(
        method(lambda: NMTTranslate(marian_dir(), "sw", max_length=8, cache_dir=scratch() / "nmt", verbose=False),
               "translate"), {"texts": ["Fungua"]}, {"texts": ["Fungua kichupo"]}),
    "LinearFusion": ArgumentCase(LinearFusion, {"weight": 0.5}, {
        "weight": [1.5, -0.1, NAN, "0.5", None], "method": ["max", None], "first": NOT_A_NAME}),
    "KeepScore": ArgumentCase(KeepScore, {}, {"column": NOT_A_NAME}),
    "fused": ArgumentCase(fused, {"first_stage": KeepScore(), "reranker": KeepScore(), "weight": 0.5}, {
        "first_stage": ["bm25", None], "reranker": ["optical-student"], "weight": [2, NAN, "0.5"],
        "method": ["max"]}),
    "tune_fusion_weight": ArgumentCase(tune_fusion_weight, {
        "first_stage": KeepScore(), "reranker": KeepScore(), "topics": TOPICS, "qrels": QRELS}, {
        "first_stage": ["bm25"], "reranker": [None], "grid": [[1.5], [], "0.5", 5], "method": ["max"],
        "measure": ["FOO@3", 10]},
        {"topics": "checked by the pipeline it runs (PyTerrier's validation names the missing columns)",
         "qrels": "checked by ir_measures when the runs are evaluated"}),
    "fusion_curve": ArgumentCase(fusion_curve, {"run": run_frame(), "qrels": QRELS}, {
        "grid": [[1.5], [], "0.5"], "method": ["max"], "measure": ["FOO@3", 10], "topics": ["sw", 3]},
        {"run": "a reranked run with first_score; its columns are read by name", "qrels": "checked by ir_measures"}),
    "fusion_grid": ArgumentCase(fusion_grid, {"run": run_frame(), "qrels": QRELS}, {
        "depths": [[0], "10", [], 10], "methods": [["max"], [], "minmax"], "grid": [[1.5]], "measure": ["FOO@3"],
        "topics": ["sw"]},
        {"run": "a reranked run with first_score; its columns are read by name", "qrels": "checked by ir_measures"}),
}
ARGUMENT_VALUES = [(case, name, value) for case, spec in ARGUMENT_CASES.items()
                   for name, values in spec.bad.items() for value in values]


def valid_arguments(spec: ArgumentCase) -> dict:
    """The valid arguments, with the objects that need a built index made now."""
    valid = dict(spec.valid)
    if "index" in valid and valid["index"] is None:
        valid["index"] = {DenseRetriever: dense_index, DenseScorer: dense_index, TextLoader: pisa_index,
                          MultilingualBM25Retriever: pisa_index, LuceneBM25: lucene_index}[spec.call]()
    if spec.call is DenseIndex:
        valid["encoder"] = encoder()
    return valid


def argument_id(value) -> str:
    return repr(value)[:20] if not isinstance(value, str) or value not in ARGUMENT_CASES else value


@pytest.mark.parametrize("case", list(ARGUMENT_CASES))
def test_every_argument_has_bad_values_or_a_reason(case):
    spec = ARGUMENT_CASES[case]
    signature_of = getattr(spec.call, "signature_of", None)  # a method's object is made on first use
    target = signature_of() if callable(signature_of) else spec.call
    parameters = inspect.signature(target).parameters.values()
    arguments = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]
    missing = [a for a in arguments if a not in spec.bad and a not in spec.unchecked]
    assert not missing, f"{case}: give bad values of {missing} (or say why they need no check)"
    if not any(p.kind == p.VAR_KEYWORD for p in parameters):  # (**kwargs passed on are checked where they go)
        assert not [a for a in {**spec.bad, **spec.unchecked} if a not in arguments], f"{case}: no such argument"


@pytest.mark.parametrize("case, name, value", ARGUMENT_VALUES, ids=argument_id)
def test_a_bad_argument_is_named_in_one_line_where_it_is_given(case, name, value, monkeypatch):
    spec = ARGUMENT_CASES[case]
    valid = valid_arguments(spec)
    if callable(getattr(spec.call, "signature_of", None)):
        spec.call.signature_of()  # the object whose method is called, built before loading is forbidden
    from pyterrier_optical.rerank import reranker as reranker_module

    monkeypatch.setattr(reranker_module, "load_cross_encoder", lambda *a, **k: pytest.fail("loaded before checking"))
    with pytest.raises(ValueError) as error:
        spec.call(**{**valid, name: value})
    message = str(error.value)
    assert "\n" not in message and len(message) < 500, message
    assert re.search(rf"\b{name}\b", message), f"{name} is not named: {message}"
    shown = [repr(value)[:20]] + ([repr(v) for v in value] if isinstance(value, (list, tuple)) else [])
    assert any(s in message for s in shown), f"{value!r} is not shown: {message}"


# --- 3. devices -------------------------------------------------------------------------------------------------

ABSENT_DEVICES = ["cuda:99", "gpu"] + ([] if torch.cuda.is_available() else ["cuda", "cuda:0", "cuda:1"])
DEVICE_COMPONENTS = {
    OpticalReranker: lambda device: OpticalReranker("no/such-model", device=device, verbose=False),
    E5Encoder: lambda device: E5Encoder("no/such-model", device=device),
    NMTTranslate: lambda device: NMTTranslate("no/such-model", "sw", device=device, verbose=False),
}


def test_every_component_that_takes_a_device_is_in_the_table():
    takers = [c for c in package_classes(Keyed) if "device" in constructor_arguments(c)]
    assert sorted(takers, key=lambda c: c.__name__) == sorted(DEVICE_COMPONENTS, key=lambda c: c.__name__)


@pytest.mark.parametrize("device", ABSENT_DEVICES)
@pytest.mark.parametrize("component", list(DEVICE_COMPONENTS), ids=key_id)
def test_a_device_the_machine_lacks_is_named_before_loading(component, device):
    """With a model that does not exist, loading first would raise OSError: the ValueError naming the device shows
    that the device was checked before."""
    with pytest.raises(ValueError, match=f"device '{device}'"):
        DEVICE_COMPONENTS[component](device)


def test_infer_device_names_the_device_and_keeps_the_ones_here():
    assert infer_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert infer_device("cpu") == torch.device("cpu") == infer_device(torch.device("cpu"))
    for bad in ABSENT_DEVICES + [3.5, True]:
        with pytest.raises(ValueError, match="device"):
            infer_device(bad)


# --- 4. result frames --------------------------------------------------------------------------------------------

RESULT_FRAME_READERS = (OpticalReranker, TextScorer, DenseScorer, LinearFusion)  # every transformer that ranks a
# result frame it is given
BAD_RESULT_FRAMES = {
    "a qid given to two queries": (lambda f: f.assign(query=["open a new tab", "close it"]),
                                   "qid '1' is given to different queries"),
    "a document given twice to a query": (lambda f: f.assign(docno=[f["docno"].iloc[0]] * 2),
                                          "query '1' has document .* 2 times"),
    "a qid as a number and as text": (lambda f: f.assign(qid=pd.Series([1, "1"], dtype=object)),
                                      "qid '1' is given both as a number and as text"),
}


def test_every_transformer_that_ranks_a_result_frame_it_is_given_is_in_the_table():
    """A class whose ``transform`` validates a result frame and ranks it reads one: the table must hold it."""
    def ranks_a_result_frame(cls):
        source = inspect.getsource(cls.transform) if hasattr(cls, "transform") else ""
        return "result_frame(" in source and ("ranked(" in source or "super().transform" in source
                                              or "pipeline_(" in source)

    readers = {cls for cls in KEY_CASES if ranks_a_result_frame(cls)}
    assert readers == set(RESULT_FRAME_READERS)


@pytest.mark.parametrize("kind", BAD_RESULT_FRAMES)
@pytest.mark.parametrize("cls", RESULT_FRAME_READERS, ids=key_id)
def test_reliability_a_result_frame_whose_queries_are_not_one_query_each_is_refused(cls, kind):
    """Ranks are per qid: a frame in which a qid is two queries, or a query has a document twice, would be ranked as
    it was not meant; every re-scoring transformer refuses it naming one such qid (the good frame is scored)."""
    docs = list(dense_index().texts().items())[:2]
    frame = pd.DataFrame({"qid": ["1", "1"], "query": ["open a new tab"] * 2, "docno": [d for d, _ in docs],
                          "text": [t for _, t in docs], "score": [2.0, 1.0], FIRST_SCORE: [1.0, 3.0]})
    transformer = KEY_CASES[cls].build()
    assert sorted(transformer(frame)["rank"]) == [0, 1]
    change, message = BAD_RESULT_FRAMES[kind]
    with pytest.raises(ValueError, match=message):
        transformer(change(frame))


def test_qids_of_one_kind_in_several_types_are_one_query_each():
    from pyterrier_optical.util.frames import check_result_frame

    frame = pd.DataFrame({"qid": pd.Series([np.int64(1), 1, 2], dtype=object), "query": ["a", "a", "b"],
                          "docno": ["d1", "d2", "d1"]})
    assert check_result_frame(frame) is frame
    categorical = frame.astype({"qid": str}).astype({"qid": "category", "docno": "category"})
    assert check_result_frame(categorical) is categorical
