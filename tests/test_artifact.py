"""The checkpoint format as a PyTerrier artifact, the old layout, packaging through PyTerrier's own download path,
and the embedded names (the OPTICAL student is the default)."""
import functools
import http.server
import json
import shutil
import threading

import numpy as np
import pyterrier as pt
import pytest

from pyterrier_optical import OpticalCheckpoint, OpticalReranker
from pyterrier_optical.models.checkpoint import METADATA_FILE, read_metadata
from pyterrier_optical.models.cross_encoder import DEFAULT_MODEL
from pyterrier_optical.models.recipes import StudentRecipe
from pyterrier_optical.models.registry import EMBEDDED, embedded_folder

QUERIES, TEXTS = ["privacy settings", "mipangilio"], ["Privacy and security settings", "Open a new tab"]


@pytest.fixture()
def checkpoint(tiny_reranker, tmp_path):
    return tiny_reranker.save_pretrained(tmp_path / "ckpt", languages=["sw"])


def test_a_saved_reranker_is_an_artifact(checkpoint, tiny_reranker):
    meta = json.loads((checkpoint / METADATA_FILE).read_text())
    assert (meta["type"], meta["format"], meta["package_hint"]) == ("reranker", "optical", "pyterrier-optical")
    artifact = pt.Artifact.load(str(checkpoint))
    assert isinstance(artifact, OpticalCheckpoint) and artifact.built()
    assert artifact.metadata()["languages"] == ["sw"] and "type" not in artifact.metadata()
    np.testing.assert_allclose(artifact.reranker(verbose=False, precision="fp32").score(QUERIES, TEXTS),
                               tiny_reranker.score(QUERIES, TEXTS), atol=1e-6)


def test_packaged_artifact_round_trips_through_pyterrier_download(checkpoint, tiny_reranker, tmp_path):
    """``build_package`` + ``from_url`` are what ``to_hf``/``from_hf`` do around the hub; the URL is served on the
    loopback interface, so PyTerrier's real download and extraction code runs."""
    (tmp_path / "pub").mkdir()
    package = OpticalCheckpoint(checkpoint).build_package(str(tmp_path / "pub" / "artifact.tar.lz4"), verbose=False)
    assert json.loads((tmp_path / "pub" / "artifact.tar.lz4.json").read_text())["expected_sha256"]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "pub"))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{package.rsplit('/', 1)[1]}"
        downloaded = pt.Artifact.from_url(url)
    finally:
        server.shutdown()
    assert isinstance(downloaded, OpticalCheckpoint) and downloaded.path != checkpoint
    np.testing.assert_allclose(downloaded.reranker(verbose=False, precision="fp32").score(QUERIES, TEXTS),
                               tiny_reranker.score(QUERIES, TEXTS), atol=1e-6)


def test_a_training_runs_state_is_not_packaged(checkpoint):
    (checkpoint / "state").mkdir()
    (checkpoint / "state" / "trainer.pt").write_bytes(b"x")
    assert all("state" not in name for name, _ in OpticalCheckpoint(checkpoint)._package_files())


def test_an_artifact_of_another_type_names_the_type_found(tmp_path):
    (tmp_path / METADATA_FILE).write_text(json.dumps({"type": "sparse_index", "format": "pisa"}))
    with pytest.raises(ValueError, match=r"is a sparse_index\.pisa artifact, not a reranker\.optical checkpoint"):
        OpticalCheckpoint(tmp_path)


def test_a_corrupt_metadata_file_names_the_folder(checkpoint):
    (checkpoint / METADATA_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=f"{checkpoint}.*delete the folder"):
        read_metadata(checkpoint)


def test_unknown_embedded_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown embedded reranker 'optical-default'; known: optical-student"):
        OpticalReranker("optical-default")


def test_the_default_reranker_is_the_optical_student(tiny_reranker, monkeypatch, tmp_path, no_shipped_models):
    assert DEFAULT_MODEL == "optical-student" and isinstance(EMBEDDED[DEFAULT_MODEL].recipe, StudentRecipe)
    monkeypatch.setenv("OPTICAL_HOME", str(tmp_path))
    tiny_reranker.save_pretrained(embedded_folder("optical-student"), role="student")  # as if built before
    default = OpticalReranker(verbose=False, precision="fp32")
    assert default.metadata_["role"] == "student"
    np.testing.assert_allclose(default.score(QUERIES, TEXTS), tiny_reranker.score(QUERIES, TEXTS), atol=1e-6)
    shutil.rmtree(tmp_path / "rerankers")
