"""Bad input that once gave a silently wrong result or ran code: each ends in the right result or a clear error.
``pytest -k reliability`` runs them."""
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from pyterrier_optical.data.bitext import read_bitext
from pyterrier_optical.data.lexicon import read_word_pairs
from pyterrier_optical.models.checkpoint import read_metadata
from pyterrier_optical.models.recipes import TrainingConfig
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
    config = TrainingConfig(steps=2, batch_size=2, checkpoint_every=1, device="cpu", verbose=False)
    for run, claimed in (("unclaimed", False), ("claimed", True)):  # a folder from elsewhere; one of a run here
        if claimed:
            Trainer(build_tiny_cross_encoder(tok), tok, tmp_path / run, config).save_state()
        else:
            (tmp_path / run / "state").mkdir(parents=True)
        with open(tmp_path / run / "state" / "trainer.pt", "wb") as f:
            pickle.dump({"step": 3, "payload": RunsCode(marker)}, f)
        refused = r"trainer\.pt holds more than tensors and plain values.*Delete .*state" if claimed else \
            r"unclaimed is not a training run written by pyterrier-optical .*its state/trainer.pt cannot be read"
        with pytest.raises((ValueError, FileExistsError), match=refused):
            Trainer(build_tiny_cross_encoder(tok), tok, tmp_path / run, config)
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


# --- text that is not a string ---------------------------------------------------------------------------------

def test_reliability_numbers_are_read_as_their_text(tiny_reranker, tmp_path):
    from pyterrier_optical import MultilingualBM25
    from pyterrier_optical.data.text import as_text

    assert [as_text(v) for v in (404, 404.0, 2.5, b"caf\xc3\xa9", None, float("nan"), "x")] == \
        ["404", "404", "2.5", "café", "", "", "x"]
    with pytest.raises(TypeError, match="cannot read a list as text"):
        as_text(["a"])
    assert tiny_reranker.score([404], ["error 404"])[0] == pytest.approx(tiny_reranker.score(["404"], ["error 404"])[0])
    index = MultilingualBM25(tmp_path / "i", lang="en", verbose=False).index(
        [{"docno": "d1", "text": "page not found error 404"}, {"docno": "d2", "text": "open a new tab"}])
    res = index.bm25()(pd.DataFrame({"qid": ["q"], "query": [404]}))
    assert res["docno"].tolist() == ["d1"] and res["text"].tolist() == ["page not found error 404"]


def test_reliability_jsonl_fields_that_are_not_strings_are_refused(tmp_path):
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"en": "hello", "other": "jambo"}\n{"en": 5, "other": null}\n')
    with pytest.raises(ValueError, match=r"pairs\.jsonl:2: field 'other' is null, not a string"):
        read_bitext(bad)


# --- the BM25 index ------------------------------------------------------------------------------------------

DOCS = [{"docno": "a", "text": "alpha one"}, {"docno": "b", "text": "beta two"}]


def test_reliability_duplicate_docnos_are_refused_and_a_failed_overwrite_keeps_the_old_index(tmp_path):
    from pyterrier_optical import MultilingualBM25

    index = MultilingualBM25(tmp_path / "i", lang="en", verbose=False).index(DOCS)
    before = index.bm25()
    with pytest.raises(ValueError, match=r"docno 'a' is given twice \(documents #1 and #2\)"):
        MultilingualBM25(tmp_path / "i", lang="en", overwrite=True, verbose=False).index(
            [{"docno": "a", "text": "alpha one"}, {"docno": "a", "text": "beta two"}])
    for retriever in (before, MultilingualBM25(tmp_path / "i").bm25()):  # opened before, and reopened after
        res = retriever(pd.DataFrame({"qid": ["q"], "query": ["alpha"]}))
        assert res[["docno", "text"]].values.tolist() == [["a", "alpha one"]]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".i.")]  # no staging left behind


def test_reliability_an_overwrite_swaps_in_the_new_index_whole(tmp_path):
    from pyterrier_optical import MultilingualBM25

    MultilingualBM25(tmp_path / "i", lang="en", verbose=False).index(DOCS)
    new = MultilingualBM25(tmp_path / "i", lang="en", overwrite=True, verbose=False).index(
        [{"docno": "c", "text": "gamma alpha"}])
    res = new.bm25()(pd.DataFrame({"qid": ["q"], "query": ["alpha"]}))
    assert res[["docno", "text"]].values.tolist() == [["c", "gamma alpha"]]


@pytest.mark.parametrize("docs,message", [([], "no documents"),
                                          ([{"docno": "a", "text": ""}, {"docno": "b", "text": None}],
                                           "none of the 2 documents has a word")])
def test_reliability_nothing_to_index_is_an_error_before_pisa(tmp_path, docs, message):
    from pyterrier_optical import MultilingualBM25

    with pytest.raises(ValueError, match=message):  # PISA itself would abort the interpreter or fail obscurely
        MultilingualBM25(tmp_path / "i", lang="de", verbose=False).index(docs)
    assert not (tmp_path / "i").exists()


def test_reliability_bm25_then_reranker_runs_in_parallel(tiny_reranker, tmp_path):
    """``.parallel(2)`` pickles the pipeline into two processes: the stemmer and PISA reopen on the other side."""
    import pyterrier as pt

    from pyterrier_optical import MultilingualBM25

    dataset = pt.get_dataset("irds:optical/ui/de-en/test")
    index = MultilingualBM25(tmp_path / "i", lang="en", verbose=False).index(dataset.get_corpus_iter(verbose=False))
    pipeline = index.bm25(num_results=5) >> tiny_reranker
    topics = pd.DataFrame({"qid": [f"q{i}" for i in range(6)],
                           "query": ["privacy settings", "open a new tab", "bookmarks", "download", "history",
                                     "passwords"]})
    one, two = pipeline(topics), pipeline.parallel(2)(topics)
    merged = one.merge(two, on=["qid", "docno"])
    assert len(merged) == len(one) == len(two) > 0
    np.testing.assert_allclose(merged["score_x"], merged["score_y"], atol=1e-6)


# --- folders: locks, litter, permissions -------------------------------------------------------------------

def test_reliability_a_second_trainer_into_the_same_folder_is_refused_naming_the_first(tiny_model_dir, tmp_path):
    import subprocess
    import sys

    from transformers import AutoTokenizer

    from pyterrier_optical.util.io import FolderBusyError

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pyterrier_optical.util.io import "
                               "folder_lock\nwith folder_lock(sys.argv[1], 'a test'):\n    print('held', flush=True)\n"
                               "    time.sleep(60)\n", str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        tok = AutoTokenizer.from_pretrained(tiny_model_dir)
        with pytest.raises(FolderBusyError, match=rf"run is in use by .*\"pid\": {holder.pid}.*a test"):
            Trainer(build_tiny_cross_encoder(tok), tok, tmp_path / "run", TrainingConfig(steps=1, device="cpu"))
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "run").exists()  # nothing was written by the refused one


def test_reliability_concurrent_atomic_writes_do_not_fail_or_leave_litter(tmp_path):
    import subprocess
    import sys

    script = """import sys
from pyterrier_optical.util.io import Marker, write_folder_atomically
for i in range(60):
    try:
        write_folder_atomically(sys.argv[1], lambda f: (f / 'x').write_text(str(i)), (Marker('x', files=('x',)),))
    except FileExistsError as e:  # the other writer replaced it meanwhile: its version is kept
        assert 'theirs is kept' in str(e), e
"""
    writers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "target")], stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    errors = [w.communicate(timeout=300)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors  # a write is done, or told another one's is kept
    assert (tmp_path / "target" / "x").read_text() == "59"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]


def test_reliability_a_dead_writers_staging_is_removed_and_folders_follow_the_umask(tmp_path):
    import os

    from pyterrier_optical.util.io import Marker, write_folder_atomically

    litter = tmp_path / ".target.999999999.abcd_123"  # a pid that cannot be alive
    litter.mkdir()
    old = os.umask(0o022)
    try:
        write_folder_atomically(tmp_path / "target", lambda f: (f / "x").write_text("1"), (Marker("x", files=("x",)),))
    finally:
        os.umask(old)
    assert not litter.exists()
    assert (tmp_path / "target").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "target" / "x").stat().st_mode & 0o777 == 0o644


# --- resuming only the same run ------------------------------------------------------------------------------

def test_reliability_resume_only_what_matches_finished_runs_are_not_redone(tiny_model_dir, tmp_path, caplog):
    import logging

    from transformers import AutoTokenizer

    from pyterrier_optical.data.bitext import load_bitext
    from pyterrier_optical.models.recipes import TeacherRecipe
    from pyterrier_optical.train.teacher import english_task, train_teacher

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = english_task([en for en, _ in load_bitext("sw", "train")[:40]], num_negatives=3, verbose=False)

    def recipe(**kw):
        return TeacherRecipe(TrainingConfig(**{"steps": 4, "batch_size": 4, "lr": 1e-3, "checkpoint_every": 2,
                                               "device": "cpu", "verbose": False, **kw}), max_length=32, negatives=3)

    out = tmp_path / "t"
    train_teacher(examples, out, recipe(), build_tiny_cross_encoder(tok), tok)
    assert not (out / "state").exists()  # pruned once the final checkpoint is written
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    with caplog.at_level(logging.WARNING):
        train_teacher(examples, out, recipe(), build_tiny_cross_encoder(tok), tok)  # the same run: nothing to do
    assert "already holds this finished run" in caplog.text and (out / "model.safetensors").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match=r"finished run with other settings \(training.lr: 0.001 then, 0.01 now\)"):
        train_teacher(examples, out, recipe(lr=1e-2), build_tiny_cross_encoder(tok), tok)
    with pytest.raises(ValueError, match=r"examples: '\w+' then, '\w+' now"):
        train_teacher(examples[:20], out, recipe(), build_tiny_cross_encoder(tok), tok)
    train_teacher(examples, out, recipe(lr=1e-2), build_tiny_cross_encoder(tok), tok, restart=True)
    assert read_metadata(out)["training"]["lr"] == 1e-2


def test_reliability_an_interrupted_run_resumes_only_with_its_own_settings(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = TrainingConfig(steps=5, batch_size=2, checkpoint_every=1, device="cpu", verbose=False)
    trainer = Trainer(build_tiny_cross_encoder(tok), tok, tmp_path / "run", config, data={"examples": "abc"})
    trainer.step = 2
    trainer.save_state()
    trainer._lock.close()
    with pytest.raises(ValueError, match=r"saved state of a run with other settings \(training.lr: 3e-05 then, "
                                         r"0.001 now\).*--restart"):
        Trainer(build_tiny_cross_encoder(tok), tok, tmp_path / "run", TrainingConfig(
            steps=5, batch_size=2, checkpoint_every=1, device="cpu", verbose=False, lr=1e-3), data={"examples": "abc"})
    again = Trainer(build_tiny_cross_encoder(tok), tok, tmp_path / "run",
                    TrainingConfig(steps=5, batch_size=2, checkpoint_every=3, device="cpu", verbose=False),
                    data={"examples": "abc"})  # a runtime setting changed: it resumes
    assert again.step == 2


# --- bad arguments are refused before any work ---------------------------------------------------------------

@pytest.mark.parametrize("args,message", [(["--lr", "-1"], "lr must be >= 0"), (["--head-lr", "-1"], "head_lr"),
                                          (["--steps", "0"], "steps must be >= 1"),
                                          (["--device", "cuda"], "CUDA is not available"),
                                          (["--precision", "fp16"], "'fp16' was asked for"),
                                          (["--negatives", "0"], "negatives must be >= 1"),
                                          (["--max-length", "0"], "max_length must be >= 8"),
                                          (["--codeswitch", "1.5"], "codeswitch must be a ratio")])
def test_reliability_bad_training_arguments_exit_2_with_one_line(args, message, tmp_path, capsys):
    from pyterrier_optical.cli import main

    assert main(["train-teacher", "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_reliability_an_output_that_is_a_file_is_refused(tmp_path, capsys):
    from pyterrier_optical.cli import main

    (tmp_path / "o").write_text("not a folder")
    assert main(["train-teacher", "--out", str(tmp_path / "o"), "--steps", "1", "--quiet"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [(["--score-candidates", "1"], "score_candidates must be >= 2"),
                                          (["--epsilon", "0"], "epsilon and sinkhorn_tol must be > 0"),
                                          (["--eval-every", "0"], "eval_every must be >= 1"),
                                          (["--dev-source", "other"], "dev_source must be one of"),
                                          (["--dense-teacher-weight", "1.5"], "dense_teacher_weight must be in [0, 1]"),
                                          (["--dense-teacher-weight", "0.5", "--score-weight", "0"],
                                           "it needs score_weight > 0")])
def test_reliability_bad_distillation_arguments_exit_2_with_one_line(args, message, tmp_path, capsys):
    from pyterrier_optical.cli import main

    assert main(["distill", "--teacher", str(tmp_path / "t"), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


@pytest.mark.parametrize("args,message", [(["--ratios", "5"], "ratio p must be in [0, 1], got 5.0"),
                                          (["--nmt", "m", "--nmt-code", "swh_Latn"], "--nmt-code takes LANG=CODE")])
def test_reliability_bad_demo_arguments_exit_2_before_any_work(args, message, tmp_path, capsys):
    from pyterrier_optical.cli import main

    assert main(["demo", "--out", str(tmp_path / "demo"), *args]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "demo").exists()


def test_reliability_a_single_test_name_is_one_test():
    from pyterrier_optical.experiment.compare import check_tests

    assert check_tests("wilcoxon") == ("wilcoxon",) and check_tests(["t", "wilcoxon"]) == ("t", "wilcoxon")
    with pytest.raises(ValueError, match="unknown test 'w'"):
        check_tests(["w"])


def _copy_model(source, target):
    import shutil

    shutil.copytree(source, target)
    return target


@pytest.mark.parametrize("damage, message", [
    ("empty", "holds no model \\(no config.json\\)"),
    ("state only", "holds only an interrupted training run's state/"),
    ("corrupt config", "config.json is corrupt"),
    ("no weights", "has a config.json but no weights"),
    ("truncated weights", "model.safetensors is damaged"),
    ("no tokenizer", "has no tokenizer files"),
])
def test_reliability_a_damaged_model_folder_is_named_with_what_is_wrong(tiny_model_dir, tmp_path, damage, message):
    from pyterrier_optical.retrieve.dense import E5Encoder
    from pyterrier_optical.rerank.reranker import OpticalReranker

    folder = tmp_path / "model"
    if damage in ("empty", "state only"):
        (folder / ("state" if damage == "state only" else "")).mkdir(parents=True)
    else:
        _copy_model(tiny_model_dir, folder)
        if damage == "corrupt config":
            (folder / "config.json").write_text('{"model_type": "bert", ', encoding="utf-8")
        elif damage == "no weights":
            (folder / "model.safetensors").unlink()
        elif damage == "truncated weights":
            weights = folder / "model.safetensors"
            weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        else:
            for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
                (folder / name).unlink(missing_ok=True)
    for load in (OpticalReranker, E5Encoder):
        with pytest.raises(ValueError, match=message) as error:
            load(str(folder))
        assert str(folder) in str(error.value)


def test_reliability_a_missing_nested_path_is_named_not_taken_for_a_hub_id(tmp_path):
    from pyterrier_optical.retrieve.dense import E5Encoder
    from pyterrier_optical.rerank.reranker import OpticalReranker

    for load in (OpticalReranker, E5Encoder):
        with pytest.raises(FileNotFoundError, match="model path 'models/e5/small' does not exist"):
            load("models/e5/small")


def test_reliability_a_damaged_embedded_cache_names_the_folder_to_delete(tiny_model_dir, tmp_path, monkeypatch,
                                                                         no_shipped_models):
    from pyterrier_optical.rerank.reranker import OpticalReranker
    from pyterrier_optical.models.registry import embedded_folder

    monkeypatch.setenv("OPTICAL_HOME", str(tmp_path / "home"))
    folder = _copy_model(tiny_model_dir, embedded_folder("optical-teacher"))
    (folder / "pt_meta.json").write_text('{"type": "reranker", "format": "optical"}', encoding="utf-8")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=f"delete the folder {folder} and it is rebuilt"):
        OpticalReranker("optical-teacher")


def test_reliability_register_local_refuses_duplicate_docnos_and_shipped_ids(tmp_path):
    from pyterrier_optical.data.datasets import register_local
    from pyterrier_optical.data.files import BadRecordError

    docs = tmp_path / "docs.tsv"
    docs.write_text("d1\talpha one\nd2\tgamma\nd1\tbeta two\n", encoding="utf-8")
    with pytest.raises(BadRecordError, match="docs.tsv:3: duplicate docno 'd1' \\(first on line 1\\)"):
        register_local("test-reliability/duplicates", docs)
    docs.write_text("d1\talpha one\n", encoding="utf-8")
    with pytest.raises(ValueError, match="is one of the shipped collections"):
        register_local("optical/ui/sw-en/test", docs)


@pytest.mark.parametrize("setting, value, message", [
    ("num_hidden_layers", 24, "num_hidden_layers is 24, the weights have 4 blocks"),
    ("num_hidden_layers", 2, "num_hidden_layers is 2, the weights have 4 blocks"),
    ("hidden_size", 64, "hidden_size is 64, the word embeddings are 32 wide"),
    ("vocab_size", 99, "vocab_size is 99, the word embeddings have"),
])
def test_reliability_a_config_that_does_not_fit_the_weights_is_refused(tiny_model_dir, tmp_path, setting, value,
                                                                       message):
    import json

    from pyterrier_optical.retrieve.dense import E5Encoder
    from pyterrier_optical.rerank.reranker import OpticalReranker

    folder = _copy_model(tiny_model_dir, tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, setting: value}))
    for load in (OpticalReranker, E5Encoder):
        with pytest.raises(ValueError, match=f"{folder / 'config.json'} does not fit the weights beside it: {message}"):
            load(str(folder))


def test_reliability_a_two_label_head_or_a_tokenizer_of_another_model_is_refused_on_load(tiny_model_dir, tmp_path):
    """A monoBERT-style two-class head is not a relevance logit, and a tokenizer with more tokens than the model
    embeds would fail at the first batch: both are named when the reranker is made."""
    import json

    from transformers import AutoTokenizer

    from pyterrier_optical.rerank.reranker import OpticalReranker

    two = _copy_model(tiny_model_dir, tmp_path / "two-labels")
    config = json.loads((two / "config.json").read_text())
    (two / "config.json").write_text(json.dumps({**config, "id2label": {"0": "no", "1": "yes"},
                                                 "label2id": {"no": 0, "yes": 1}}))
    with pytest.raises(ValueError, match="has a classification head of 2 labels; OpticalReranker reads"):
        OpticalReranker(str(two), verbose=False)
    other = _copy_model(tiny_model_dir, tmp_path / "other-tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(other)
    tokenizer.add_tokens([f"extra{i}" for i in range(5000)])
    tokenizer.save_pretrained(other)
    with pytest.raises(ValueError, match=f"the tokenizer has {len(tokenizer)} tokens but the model embeds"):
        OpticalReranker(str(other), verbose=False)


@pytest.mark.parametrize("removed, message", [("tokenizer.json", "has tokenizer_config.json but no tokenizer.json"),
                                              ("tokenizer_config.json", "has tokenizer.json but no tokenizer_config")])
def test_reliability_a_missing_tokenizer_file_is_named_with_the_folder(tiny_model_dir, tmp_path, removed, message):
    from pyterrier_optical.rerank.reranker import OpticalReranker

    folder = _copy_model(tiny_model_dir, tmp_path / "model")
    (folder / removed).unlink()
    with pytest.raises(ValueError, match=f"{folder} {message}"):
        OpticalReranker(str(folder))


@pytest.mark.parametrize("kind", ["bm25", "dense", "checkpoint"])
def test_reliability_an_index_never_replaces_a_user_s_folder_or_file(tiny_model_dir, tiny_reranker, tmp_path, kind):
    from pyterrier_optical import DenseIndex, E5Encoder, MultilingualBM25

    def write(path):
        if kind == "bm25":
            return MultilingualBM25(path, lang="en", verbose=False).index(DOCS)
        if kind == "dense":
            return DenseIndex(path, E5Encoder(str(tiny_model_dir), precision="fp32")).index(DOCS)
        return tiny_reranker.save_pretrained(path)

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match=f"{folder} is not a .* written by pyterrier-optical "
                                              "\\(it holds thesis.tex; it has no .*\\): refusing to replace"):
        write(folder)
    assert (folder / "thesis.tex").read_text() == "years of work"
    file = tmp_path / "notes.txt"
    file.write_text("keep me")
    with pytest.raises(FileExistsError, match=f"{file} is a file, not a .* folder: refusing to replace it"):
        write(file)
    assert file.read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty")  # an empty folder, and the same kind again, are fine
    if kind == "checkpoint":
        write(tmp_path / "empty")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging or lock left behind


def test_reliability_two_indexers_of_one_new_folder_one_wins_the_other_is_told(tmp_path):
    from pyterrier_optical import MultilingualBM25

    path = tmp_path / "shared"

    def docs_after_the_other_indexer_finished():
        MultilingualBM25(path, lang="en", verbose=False).index([{"docno": "theirs", "text": "alpha"}])
        yield from DOCS

    with pytest.raises(FileExistsError, match=f"another process wrote the BM25 index {path} while this one was "
                                              "writing it: theirs is kept"):
        MultilingualBM25(path, lang="en", verbose=False).index(docs_after_the_other_indexer_finished())
    assert MultilingualBM25(path).texts() == {"theirs": "alpha"}


def test_reliability_single_strings_are_not_scored_character_by_character(tiny_reranker, tiny_model_dir):
    from pyterrier_optical import E5Encoder

    for scorer in (tiny_reranker, E5Encoder(str(tiny_model_dir), precision="fp32")):
        with pytest.raises(ValueError, match="must be a list of texts, got the single string 'a query': pass"):
            scorer.score("a query", "a document")


def test_reliability_e5_query_encoding_reads_missing_and_numeric_queries_as_text(tiny_model_dir):
    from pyterrier_optical import E5Encoder

    encoder = E5Encoder(str(tiny_model_dir), precision="fp32")
    out = encoder.query_encoder()(pd.DataFrame({"qid": ["1", "2", "3"], "query": [None, 5, "5"]}))
    assert out["query"].tolist() == ["", "5", "5"]
    np.testing.assert_allclose(out["query_vec"].iloc[1], out["query_vec"].iloc[2])


def test_reliability_bm25_dicts_without_text_are_refused_like_frames(tmp_path):
    from pyterrier_optical import MultilingualBM25

    with pytest.raises(ValueError, match="document #2 \\('b'\\) has no 'text' field"):
        MultilingualBM25(tmp_path / "i", lang="en", verbose=False).index([DOCS[0], {"docno": "b"}])
    assert not (tmp_path / "i").exists()


def test_reliability_corrupt_index_and_checkpoint_metadata_name_the_file(tmp_path, tiny_reranker):
    from pyterrier_optical import MultilingualBM25, OpticalCheckpoint

    MultilingualBM25(tmp_path / "i", lang="en", verbose=False).index(DOCS)
    (tmp_path / "i" / "optical_bm25.json").write_text("{broken")
    with pytest.raises(ValueError, match="optical_bm25.json is corrupt .*rebuild the index with overwrite=True"):
        MultilingualBM25(tmp_path / "i")
    MultilingualBM25(tmp_path / "i", lang="en", overwrite=True, verbose=False).index(DOCS)  # as the message says
    folder = tiny_reranker.save_pretrained(tmp_path / "ckpt")
    (folder / "pt_meta.json").write_text("{broken")
    with pytest.raises(ValueError, match=f"{folder / 'pt_meta.json'} is corrupt"):
        OpticalCheckpoint.load(str(folder))


def test_reliability_codeswitch_without_a_lexicon_is_refused_at_construction():
    from pyterrier_optical import CodeSwitch

    for bad in (None, [], ["not a lexicon"], "sw"):
        with pytest.raises(ValueError, match="lexicons must be a Lexicon or a non-empty list of them"):
            CodeSwitch(bad)


def test_reliability_register_local_refuses_duplicate_qids_and_conflicting_qrels(tmp_path):
    from pyterrier_optical.data.datasets import register_local
    from pyterrier_optical.data.files import BadRecordError

    docs, queries, qrels = tmp_path / "docs.tsv", tmp_path / "queries.tsv", tmp_path / "qrels.txt"
    docs.write_text("d1\talpha\nd2\tbeta\n", encoding="utf-8")
    queries.write_text("q1\tfirst\nq1\tsecond\n", encoding="utf-8")
    with pytest.raises(BadRecordError, match="queries.tsv:2: duplicate qid 'q1' \\(first on line 1\\)"):
        register_local("test-reliability/qids", docs, queries)
    queries.write_text("q1\tfirst\n", encoding="utf-8")
    qrels.write_text("q1 0 d1 1\nq1 0 d1 1\nq1 0 d1 0\n", encoding="utf-8")
    with pytest.raises(BadRecordError, match="qrels.txt:3: query 'q1' and document 'd1' were given the label 1 on "
                                             "line 1, 0 here"):
        register_local("test-reliability/qrels", docs, queries, qrels)


@pytest.mark.parametrize("where", ["home", "out"])
def test_reliability_an_unwritable_home_or_out_is_named_before_any_work(where, tmp_path, monkeypatch, capsys):
    from pyterrier_optical.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    if where == "home":
        monkeypatch.setenv("OPTICAL_HOME", str(blocker / "home"))
        args = ["build", "optical-teacher"]
    else:
        args = ["demo", "--quick", "--out", str(blocker / "demo")]
    assert main(args) == 2
    assert f"{blocker} is a file, not a folder (needed for {blocker}/" in capsys.readouterr().err
    monkeypatch.setenv("OPTICAL_HOME", "/proc/optical-home")  # a file system that refuses writes, even to root
    assert main(["build", "optical-teacher"]) == 2
    assert "/proc is not a writable folder (needed for /proc/optical-home)" in capsys.readouterr().err
