"""The shipped models: never stale against the recipes and data, verified before use, assembled into a checkpoint
that scores as the release measured it, and a local build when a shipped model cannot be used."""
import dataclasses
import json
import logging
import shutil

import numpy as np
import pytest
import torch

from pyterrier_optical.models import shipped
from pyterrier_optical.models.shipped import (ShippedModelError, decode_tensors, encode_tensors, file_sha256,
                                              read_manifest, shipped_dir)
from pyterrier_optical.models import registry as embedded
from pyterrier_optical.models.recipes import TEACHER
from pyterrier_optical.models.registry import EMBEDDED, data_digest, model_fingerprint
from pyterrier_optical.train.release import MAX_RELEASE_BYTES

MANIFEST = read_manifest()


def test_every_embedded_reranker_ships_with_the_code_s_recipe_and_data():
    """Fails when a recipe or the shipped bitext changes without a new release (`optical export`)."""
    assert set(MANIFEST) == set(EMBEDDED)
    for name, model in MANIFEST.items():
        assert model.recipe_fingerprint == model_fingerprint(name), f"{name}: recipe changed since the release"
        assert model.data_digest == data_digest(), f"{name}: training data changed since the release"
        assert model.verified_file() == model.file  # sha256 as the manifest says
        assert model.starts_from == (EMBEDDED[name].teacher or shipped.BACKBONE)


def test_the_release_is_small_and_its_fidelity_was_measured():
    manifest = json.loads((shipped_dir() / shipped.MANIFEST).read_text(encoding="utf-8"))
    sizes = sum(m.file.stat().st_size for m in MANIFEST.values())
    assert sizes == manifest["bytes"] <= MAX_RELEASE_BYTES
    for entry in manifest["models"].values():
        dev = entry["dev"]
        assert abs(dev["rr@10_shipped"] - dev["rr@10_trained"]) <= 0.003 and dev["kendall_tau"] >= 0.99
        assert dev["pairs"] == 256 and len(entry["probe"]["scores"]) == 20


def test_only_trained_tensors_ship_as_row_wise_int8_deltas():
    torch.manual_seed(0)
    base = {"frozen": torch.randn(6, 4), "trained": torch.randn(6, 4), "bias": torch.randn(4)}
    trained = {"frozen": base["frozen"].clone(), "trained": base["trained"] + 0.01 * torch.randn(6, 4),
               "bias": base["bias"] + 1, "head": torch.randn(1, 4)}
    tensors = encode_tensors(trained, base)
    assert set(tensors) == {"delta.trained", "scale.trained", "full.bias", "full.head"}
    assert tensors["delta.trained"].dtype == torch.int8
    state = decode_tensors(tensors, base)
    assert torch.equal(state["frozen"], base["frozen"]) and torch.equal(state["head"], trained["head"])
    error = (state["trained"] - trained["trained"]).abs()
    assert (error <= tensors["scale.trained"][:, None] / 2 + 1e-7).all()  # at most half a step of its row
    assert error.max() > 0  # lossy: a delta, not a copy


@pytest.fixture
def release_copy(tmp_path, monkeypatch):
    """A copy of the shipped release that a test may damage, installed as the package's."""
    folder = tmp_path / "models"
    shutil.copytree(shipped_dir(), folder)
    monkeypatch.setattr(shipped, "shipped_dir", lambda: folder)
    return folder


def _edit_manifest(folder, edit):
    path = folder / shipped.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_reliability_a_damaged_shipped_file_is_named_and_never_loaded(release_copy):
    file = release_copy / "optical-teacher.safetensors"
    data = bytearray(file.read_bytes())
    data[-10] ^= 0xFF  # one altered byte
    file.write_bytes(bytes(data))
    with pytest.raises(ShippedModelError, match=f"{file} is damaged or altered"):
        read_manifest()["optical-teacher"].verified_file()
    file.write_bytes(bytes(data[:1000]))  # truncated
    with pytest.raises(ShippedModelError, match="damaged or altered"):
        shipped.load_shipped_tensors(read_manifest()["optical-teacher"])
    file.unlink()  # installed without its data
    with pytest.raises(ShippedModelError, match=f"{file} is missing"):
        read_manifest()["optical-teacher"].verified_file()


def test_reliability_a_manifest_of_another_format_or_corrupt_is_refused(release_copy):
    _edit_manifest(release_copy, lambda m: m.update(format=99))
    with pytest.raises(ShippedModelError, match="format version 99; this pyterrier-optical reads version 1"):
        read_manifest()
    (release_copy / shipped.MANIFEST).write_text("{\"format\": 1, ", encoding="utf-8")
    with pytest.raises(ShippedModelError, match="manifest.json is corrupt"):
        read_manifest()
    (release_copy / shipped.MANIFEST).write_text(json.dumps({"format": 1, "backbone": {"digest": "x", "prefix": "b"},
                                                             "models": {"optical-teacher": {"file": "x"}}}))
    with pytest.raises(ShippedModelError, match="an entry lacks"):
        read_manifest()


def test_a_stale_or_missing_shipped_model_is_built_here_saying_why(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(embedded, "_said", set())
    edited = embedded.EmbeddedModel("teacher-e5-small", dataclasses.replace(TEACHER, negatives=3),
                                    "an edited teacher", {"fp32": 11, "bf16": 3, "bf16-avx512": 11})
    original = embedded.embedded_folder("optical-teacher").name
    monkeypatch.setitem(EMBEDDED, "optical-teacher", edited)
    with caplog.at_level(logging.WARNING):
        assert embedded.usable_shipped("optical-teacher") is None
        assert embedded.usable_shipped("optical-student") is None  # its teacher's recipe is part of its own
    assert "the shipped optical-teacher was trained with another recipe than this code's: building it here" \
        in caplog.text
    assert embedded.embedded_folder("optical-teacher").name != original  # an edited recipe builds elsewhere
    assert embedded.build_minutes(["optical-teacher"]) == edited.build_minutes  # told it trains, not assembles
    monkeypatch.setattr(embedded, "read_manifest", lambda: {})
    monkeypatch.setattr(embedded, "_said", set())
    with caplog.at_level(logging.WARNING):
        assert embedded.usable_shipped("optical-codeswitch-teacher") is None
    assert "no shipped optical-codeswitch-teacher in this installation" in caplog.text


def test_the_current_release_needs_no_training():
    for name in EMBEDDED:
        assert embedded.usable_shipped(name) is not None
    assert embedded.build_minutes(list(EMBEDDED)) == 0


@pytest.mark.slow
def test_the_shipped_student_assembles_into_a_checkpoint_that_reproduces_the_release(e5_backbone):
    import pyterrier as pt

    from pyterrier_optical import OpticalReranker

    path = embedded.embedded_path("optical-student", verbose=False)
    assert path == embedded.shipped_folder("optical-student")
    assert embedded.shipped_folder("optical-teacher").is_dir()  # assembled first, as the student's base
    artifact = pt.Artifact.load(str(path))
    assert artifact.metadata()["shipped"]["sha256"] == MANIFEST["optical-student"].sha256
    manifest = json.loads((shipped_dir() / shipped.MANIFEST).read_text(encoding="utf-8"))
    for name in ("optical-student", "optical-teacher"):
        probe = manifest["models"][name]["probe"]
        reranker = OpticalReranker(name, precision="fp32", verbose=False)
        np.testing.assert_allclose(reranker.score(probe["queries"], probe["texts"]), probe["scores"], atol=2e-3)
    written = (path / "model.safetensors").stat().st_mtime_ns
    assert embedded.embedded_path("optical-student", verbose=False) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == written  # assembled once
    assert file_sha256(MANIFEST["optical-student"].file) == MANIFEST["optical-student"].sha256


def _perturbed(model, layers, seed):
    """A copy of ``model`` with the given blocks and the head moved a little, as training moves them."""
    import copy

    model = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if any(f"layer.{i}." in name for i in layers) or name.startswith("classifier"):
                tensor.add_(0.02 * torch.randn(tensor.shape, generator=generator))
    return model


@pytest.fixture
def tiny_release(tiny_model_dir, tmp_path, monkeypatch):
    """A tiny backbone, a teacher and a student built here from it (as ``optical build --retrain`` would), and
    short dev lists: what `optical export` reads."""
    from transformers import AutoTokenizer, BertModel

    from pyterrier_optical.data.bitext import load_bitext
    from pyterrier_optical.models.checkpoint import write_checkpoint
    from pyterrier_optical.models.cross_encoder import load_cross_encoder
    from pyterrier_optical.train import release
    from pyterrier_optical.train.selection import translation_candidates

    monkeypatch.setenv("OPTICAL_HOME", str(tmp_path / "home"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    backbone = tmp_path / "backbone"
    BertModel.from_pretrained(tiny_model_dir).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    for module in (release, embedded):
        monkeypatch.setattr(module, "embedded_backbone_path", lambda: backbone)
    base = load_cross_encoder(tiny_model_dir, "cpu")[0]
    teacher = _perturbed(base, (2, 3), seed=1)  # the upper blocks and the head, like the teacher recipe
    student = _perturbed(teacher, (0, 1), seed=2)  # the lower blocks
    for name, model in (("optical-teacher", teacher), ("optical-student", student)):
        write_checkpoint(model, tokenizer, embedded.embedded_folder(name), {"role": name[8:], "steps": 3})
    pairs = load_bitext("sw", "dev", "kolibri")[:12]
    monkeypatch.setattr(release, "dev_lists", lambda n: ([o for _, o in pairs], translation_candidates(
        [e for e, _ in pairs], 5)))
    return release, tokenizer, teacher, student, pairs


def install_release(folder, monkeypatch):
    from pyterrier_optical.train import release

    for module in (shipped, release):
        monkeypatch.setattr(module, "shipped_dir", lambda: folder)


def test_export_then_assembly_gives_back_what_was_trained(tiny_release, tmp_path, monkeypatch):
    """`optical export` on models built here (tiny ones), then `OpticalReranker(name)` from the shipped files alone."""
    from pyterrier_optical import OpticalReranker

    release, tokenizer, _, student, pairs = tiny_release
    out = release.export_release(["optical-student"], tmp_path / "models")
    manifest = json.loads((out / shipped.MANIFEST).read_text(encoding="utf-8"))
    assert list(manifest["models"]) == ["optical-teacher", "optical-student"]  # the teacher comes along, first
    assert manifest["models"]["optical-student"]["starts_from"] == "optical-teacher"
    assert manifest["models"]["optical-student"]["recipe_fingerprint"] == model_fingerprint("optical-student")
    student_file = safe_keys(out / "optical-student.safetensors")
    assert any("layer.0." in k for k in student_file) and not any("layer.3." in k for k in student_file)

    install_release(out, monkeypatch)
    for name in ("optical-teacher", "optical-student"):
        shutil.rmtree(embedded.embedded_folder(name))  # only the shipped files are left
    queries, texts = [o for _, o in pairs] * 2, [e for e, _ in pairs] + [e for e, _ in pairs[::-1]]
    assembled = OpticalReranker("optical-student", precision="fp32", verbose=False)
    assert assembled.metadata_["role"] == "student"
    trained = OpticalReranker(student, tokenizer=tokenizer, precision="fp32", verbose=False)
    np.testing.assert_allclose(assembled.score(queries, texts), trained.score(queries, texts), atol=1e-3)
    assert embedded.shipped_folder("optical-teacher").is_dir()


def test_a_re_export_carries_over_the_shipped_models_not_rebuilt_here(tiny_release, tmp_path, monkeypatch):
    """A release that retrains only the student keeps the installed teacher as it is; a model neither built here
    nor shipped with the code's recipe is refused."""
    from pyterrier_optical.models.checkpoint import write_checkpoint

    release, tokenizer, teacher, student, _ = tiny_release
    first = release.export_release(["optical-student"], tmp_path / "first")
    install_release(first, monkeypatch)
    shutil.rmtree(embedded.embedded_folder("optical-teacher"))
    shutil.rmtree(embedded.embedded_folder("optical-student"))
    write_checkpoint(_perturbed(teacher, (0, 1), seed=3), tokenizer, embedded.embedded_folder("optical-student"),
                     {"role": "student", "steps": 5})  # the student retrained
    second = release.export_release(["optical-student"], tmp_path / "second")
    old, new = (json.loads((f / shipped.MANIFEST).read_text(encoding="utf-8"))["models"] for f in (first, second))
    assert new["optical-teacher"] == old["optical-teacher"]  # carried over: same entry, same sha256
    assert file_sha256(second / "optical-teacher.safetensors") == old["optical-teacher"]["sha256"]
    assert new["optical-student"]["sha256"] != old["optical-student"]["sha256"]
    assert new["optical-student"]["trained"]["steps"] == 5

    install_release(tmp_path / "no-release", monkeypatch)
    with pytest.raises(ValueError, match="optical-teacher is neither built here .* nor shipped with it"):
        release.export_release(["optical-student"], tmp_path / "third")
    assert not (tmp_path / "third").exists()


def safe_keys(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return list(f.keys())


def test_retraining_the_student_starts_from_the_teacher_as_shipped(tmp_path, monkeypatch):
    """`optical build optical-student --retrain` trains the student only: its teacher is the shipped one (assembled),
    or the one built here when there is one."""
    from pathlib import Path

    monkeypatch.setenv("OPTICAL_HOME", str(tmp_path))
    minutes = {name: EMBEDDED[name].build_minutes for name in EMBEDDED}
    assert embedded.build_minutes(["optical-student"], retrain=True) == minutes["optical-student"]
    assert embedded.build_minutes(["optical-teacher", "optical-student"], retrain=True) == \
        minutes["optical-teacher"] + minutes["optical-student"]
    started_from = []

    def distill(teacher, out, recipe, verbose):  # the recipe's 800 steps stand in for a copy of the teacher
        started_from.append(Path(teacher))
        shutil.copytree(teacher, out)

    from pyterrier_optical.train import build

    monkeypatch.setattr(build, "distill_student", distill)  # what the registry's one door into training calls
    student = embedded.embedded_path("optical-student", verbose=False, retrain=True)
    assert started_from == [embedded.shipped_folder("optical-teacher")] and student == embedded.embedded_folder(
        "optical-student")
    shutil.copytree(started_from[0], embedded.embedded_folder("optical-teacher"))  # as if built here
    shutil.rmtree(student)
    embedded.embedded_path("optical-student", verbose=False, retrain=True)
    assert started_from[1] == embedded.embedded_folder("optical-teacher")
