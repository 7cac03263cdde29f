"""``OpticalCheckpoint``: a reranker checkpoint folder as a PyTerrier artifact (``pt.Artifact.load(path)``,
``build_package``/``from_url``, ``to_hf``/``from_hf``), and a factory of rerankers."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pyterrier as pt

from ..models.checkpoint import ARTIFACT_FORMAT, ARTIFACT_TYPE, METADATA_FILE, is_checkpoint, read_metadata
from .reranker import OpticalReranker


class OpticalCheckpoint(pt.Artifact):
    """A reranker checkpoint folder (Hugging Face files + ``pt_meta.json``).

    ``pt.Artifact.load(path)`` returns one (through the ``pyterrier.artifact`` entry point ``reranker.optical``);
    ``.reranker(**kwargs)`` gives the :class:`OpticalReranker`; ``.to_hf(repo)`` / ``OpticalCheckpoint.from_hf(repo)``
    share it through the Hugging Face hub as PyTerrier packages every artifact.
    """

    ARTIFACT_TYPE = ARTIFACT_TYPE
    ARTIFACT_FORMAT = ARTIFACT_FORMAT
    ARTIFACT_PACKAGE_HINT = "pyterrier-optical"

    def __init__(self, path):
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ValueError(f"path must be a checkpoint folder (a string or pathlib.Path), got {path!r}"[:300])
        super().__init__(path)
        meta_file = self.path / METADATA_FILE
        if meta_file.is_file():
            try:
                meta = json.loads(meta_file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ValueError(f"{meta_file} is corrupt ({e.__class__.__name__}: {e}): delete the folder "
                                 f"{self.path} and rebuild it") from None
            found = (meta.get("type"), meta.get("format"))
            if found != (ARTIFACT_TYPE, ARTIFACT_FORMAT):
                raise ValueError(f"{self.path} is a {found[0]}.{found[1]} artifact, not a "
                                 f"{ARTIFACT_TYPE}.{ARTIFACT_FORMAT} checkpoint")

    def __repr__(self):
        return f"OpticalCheckpoint({str(self.path)!r})"

    def built(self) -> bool:
        return is_checkpoint(self.path)

    def metadata(self) -> dict:
        """The checkpoint's own fields (role, base model, recipe, languages, ...)."""
        return read_metadata(self.path)

    def reranker(self, **kwargs) -> OpticalReranker:
        """An :class:`OpticalReranker` over this checkpoint (``kwargs`` go to its constructor)."""
        if not self.built():
            raise FileNotFoundError(f"{self.path} holds no finished reranker checkpoint (no {METADATA_FILE})")
        return OpticalReranker(str(self.path), **kwargs)

    def _package_files(self):
        """The checkpoint's own files (a training run's state beside them is not part of it)."""
        for file in sorted(Path(self.path).iterdir()):
            if file.is_file() and not file.name.startswith("."):
                yield file.name, str(file)
