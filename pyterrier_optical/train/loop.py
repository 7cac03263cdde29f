"""The training loop shared by teacher training and distillation.

Batches are a pure function of the step number, so a run resumes exactly: every ``checkpoint_every`` steps the
model, optimizer, schedule and random states are written atomically to ``<out>/state``; an interrupted run (Ctrl-C
saves first) continues from there. A non-finite loss stops the run with the step named and the last good
checkpoint kept. Several processes (``accelerate launch``) each compute the loss on their shard of a batch.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import pickle
import random
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..models.backbones import SAFETENSORS_FILE
from ..models.checkpoint import CHECKPOINT, METADATA_FILE, TRAINING_RUN, is_checkpoint, read_metadata, write_checkpoint
from ..util.device import autocast, cpu_flags, infer_device, resolve_precision
from ..util.io import Marker, claim_folder, folder_lock, naming_full_disk, write_folder_atomically
from ..models.recipes import RUNTIME_FIELDS, TrainingConfig

logger = logging.getLogger(__name__)
STATE_DIR = "state"
TRAINER_FILE = "trainer.pt"


def is_trainer_state(file: Path) -> bool:
    """True when ``file`` is a ``trainer.pt`` that :meth:`Trainer.save_state` wrote (its pickle holds the fields it
    writes), told without loading it."""
    import zipfile

    with zipfile.ZipFile(file) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("data.pkl")]
        data = archive.read(pickles[0]) if pickles else b""
    return all(key in data for key in (b"fingerprint", b"python_rng", b"torch_rng", b"schedule"))


def _first_record_has(*keys):
    """A check that the first line of a JSON lines file is an object with ``keys`` (a log this package writes)."""
    def check(file: Path) -> bool:
        with open(file, encoding="utf-8") as f:
            record = json.loads(f.readline())
        return isinstance(record, dict) and all(key in record for key in keys)
    return check


STATE = Marker(TRAINER_FILE, check=is_trainer_state)
# what a run writes beside its state: the best checkpoint so far (selection), its dev log (selection) and its
# learning curve (curve), and the dev measure that picks the best
BEST_DIR, EVAL_LOG, CURVE_LOG = "best", "eval.jsonl", "curve.jsonl"
MAIN_METRIC = "dev_mrr@10"
# a training run's output written before outputs were claimed, by what it held then
RUNS_BEFORE_CLAIMS = (Marker(f"{STATE_DIR}/{TRAINER_FILE}", check=is_trainer_state),
                      Marker(f"{BEST_DIR}/{METADATA_FILE}", dict(CHECKPOINT.fields)),
                      Marker(EVAL_LOG, check=_first_record_has("step", MAIN_METRIC)),
                      Marker(CURVE_LOG, check=_first_record_has("step", "weights", "alone")))


def batch_indices(step: int, batch_size: int, n: int, seed: int) -> list:
    """Example indices of ``step``: consecutive slices of a seeded permutation per epoch."""
    if n == 0:
        raise ValueError("no training examples")
    out = []
    position = step * batch_size
    while len(out) < batch_size:
        epoch, offset = divmod(position, n)
        order = np.random.default_rng(seed + epoch).permutation(n)
        take = order[offset:offset + batch_size - len(out)]
        out.extend(int(i) for i in take)
        position += len(take)
    return out


def shard(items: list, rank: int, world: int) -> list:
    """This process's part of a batch."""
    return items[rank::world]


def fingerprint(config: TrainingConfig, data: dict | None = None) -> dict:
    """What makes two runs the same run: the training settings (not the runtime ones) and ``data``, as JSON values."""
    settings = {f"training.{k}": v for k, v in asdict(config).items() if k not in RUNTIME_FIELDS}
    return json.loads(json.dumps({**settings, **(data or {})}, sort_keys=True))


def digest(items) -> str:
    """A short SHA-256 of JSON-able ``items`` (examples, bitext pairs), to fingerprint training data."""
    return hashlib.sha256(json.dumps(items, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


class Callback:
    """Hooks into :meth:`Trainer.run`; subclasses override what they need."""

    def before_step(self, trainer: "Trainer", step: int) -> None:
        """Called before ``step`` runs (also before the first step of a resumed run)."""

    def after_training(self, trainer: "Trainer") -> None:
        """Called once after the last step, before the final checkpoint is written."""


class Trainer:
    """Runs ``loss_fn(step, rank, world)`` for ``config.steps`` steps and saves the model to ``out``.

    Args:
        model: the model to train (its trainable parameters are those with ``requires_grad``).
        tokenizer: saved beside the model.
        out: output folder; a loadable checkpoint at the end, resumable state in ``out/state`` meanwhile.
        config: a :class:`TrainingConfig`.
        head_parameters: names of parameters that get ``head_lr``.
        metadata: written to ``pt_meta.json`` of the result.
        dropout: train with dropout (``model.train()``); False keeps the model in eval mode while it learns.
        unused_parameters: some trainable parameters may take no part in a loss (DDP must then look for them).
        data: what the run learns from, as JSON-able values (a digest of the examples, the loss's settings); with the
            training settings it is the run's fingerprint.
        restart: start over in ``out``, deleting an earlier run there.

    The output folder is locked while the Trainer lives (a second process training into it is refused, naming the
    first), and claimed before anything is written into it: it must be new, empty, or this package's training run or
    checkpoint; a folder of anything else is refused, naming what it holds. State saved by a run with another
    fingerprint is not resumed: the error names the fields that differ (``restart`` starts over). A finished run with
    the same fingerprint is not trained again; its state is deleted once the final checkpoint is written, unless
    ``config.keep_state``.
    """

    def __init__(self, model, tokenizer, out, config: TrainingConfig, head_parameters=(), metadata=None,
                 dropout: bool = True, unused_parameters: bool = False, data: dict | None = None,
                 restart: bool = False):
        self.config = config
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise NotADirectoryError(f"the output {self.out} is a file, not a folder")
        self.fingerprint = fingerprint(config, data)
        self._lock = contextlib.ExitStack()
        if int(os.environ.get("RANK", "0")) == 0:  # one lock for all the processes of a distributed run
            self._lock.enter_context(folder_lock(self.out, f"training into {self.out}"))
        try:
            self._setup(model, tokenizer, head_parameters, metadata, dropout, unused_parameters, restart)
        except BaseException:
            self._lock.close()
            raise

    def _setup(self, model, tokenizer, head_parameters, metadata, dropout, unused_parameters, restart):
        from accelerate import Accelerator, DistributedDataParallelKwargs

        config = self.config
        self.tokenizer = tokenizer
        self.metadata = dict(metadata or {})
        self.dropout = dropout
        device = infer_device(config.device).type
        ddp = DistributedDataParallelKwargs(find_unused_parameters=unused_parameters)
        self.accelerator = Accelerator(cpu=device == "cpu", kwargs_handlers=[ddp])
        head = set(head_parameters)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        groups = [{"params": [p for n, p in named if n not in head], "lr": config.lr},
                  {"params": [p for n, p in named if n in head], "lr": config.head_lr or config.lr}]
        optimizer = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=config.weight_decay)
        warm = max(1, int(config.warmup * config.steps))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warm, max(0.0, (config.steps - s) / max(1, config.steps - warm))))
        self.model, self.optimizer, self.schedule = self.accelerator.prepare(model, optimizer, schedule)
        self.precision = resolve_precision(config.precision, self.accelerator.device)
        self.metadata["precision"] = self.precision
        # fp16 needs loss scaling against underflowing gradients; bf16 has fp32's range and needs none
        self.scaler = torch.amp.GradScaler(self.accelerator.device.type) if self.precision == "fp16" else None
        self.step = 0
        self.losses = []
        if self.accelerator.is_main_process:  # before a file is written or deleted in it
            claim_folder(self.out, TRAINING_RUN, (CHECKPOINT, *RUNS_BEFORE_CLAIMS))
        if restart:
            self._clear()
        self.finished = self._finished()
        if not self.finished:
            self._resume()

    def _clear(self):
        """Delete an earlier run in ``out`` (a folder claimed as a training run): its checkpoint, state, logs and best
        checkpoint."""
        if self.out.is_dir():
            logger.warning("starting over in %s", self.out)
            for entry in self.out.iterdir():
                if not entry.name.startswith("."):
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()

    def _check_same_run(self, saved: dict | None, where: str):
        if saved is None or saved == self.fingerprint:
            return
        differ = [f"{k}: {saved.get(k)!r} then, {self.fingerprint.get(k)!r} now"
                  for k in sorted(saved.keys() | self.fingerprint.keys()) if saved.get(k) != self.fingerprint.get(k)]
        raise ValueError(f"{self.out} holds {where} with other settings ({'; '.join(differ)}); pass restart=True "
                         "(--restart) to start over, or choose another output folder")

    def _finished(self) -> bool:
        """True when ``out`` holds the finished checkpoint of this very run (then there is nothing to do)."""
        if not is_checkpoint(self.out):
            return False
        meta = read_metadata(self.out)
        self._check_same_run(meta.get("fingerprint"), "a finished run")
        if meta.get("steps") == self.config.steps:
            logger.warning("%s already holds this finished run (%d steps): nothing to do", self.out, self.config.steps)
            return True
        return False

    @property
    def state_dir(self) -> Path:
        return self.out / STATE_DIR

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    @property
    def world(self) -> int:
        return self.accelerator.num_processes

    def unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    def _resume(self):
        file = self.state_dir / TRAINER_FILE
        if not file.exists():
            return
        from safetensors.torch import load_file

        try:  # tensors, numbers and strings only: a state folder from elsewhere cannot run code when loaded
            state = torch.load(file, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise ValueError(f"{file} holds more than tensors and plain values ({str(e).splitlines()[0]}); it was not "
                             f"loaded. Delete {self.state_dir} to start over") from None
        weights = load_file(self.state_dir / SAFETENSORS_FILE)
        self.unwrapped().load_state_dict(weights, strict=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        self._check_same_run(state.get("fingerprint"), "the saved state of a run")
        self.step, self.losses = state["step"], state["losses"]
        logger.info("resumed %s at step %d", self.out, self.step)
        saved = state.get("precision", "fp32")
        if saved != self.precision:
            logger.warning("%s was saved at precision %s; it goes on at %s from step %d", self.out, saved,
                           self.precision, self.step)

    def save_state(self):
        """Write the resumable state atomically (main process only)."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return

        def write(folder: Path):
            self.unwrapped().save_pretrained(folder)
            torch.save({"step": self.step, "losses": self.losses, "optimizer": self.optimizer.state_dict(),
                        "schedule": self.schedule.state_dict(), "torch_rng": torch.get_rng_state(),
                        "python_rng": random.getstate(), "config": asdict(self.config),
                        "precision": self.precision, "fingerprint": self.fingerprint}, folder / TRAINER_FILE)

        write_folder_atomically(self.state_dir, write, (STATE,), "training state")

    def run(self, loss_fn, callbacks=()) -> Path:
        """Train to ``config.steps`` (from the resumed step), then write the final checkpoint into ``out``.

        ``callbacks`` get ``before_step(trainer, step)`` before every step and ``after_training(trainer)`` once
        the last step is done, before the checkpoint is written (a dev selection may load other weights there).
        """
        config = self.config
        if self.finished:
            self._lock.close()
            return self.out
        if self.step == 0:
            torch.manual_seed(config.seed)
            random.seed(config.seed)
        self.model.train(self.dropout)
        bar = None
        if config.verbose and self.accelerator.is_local_main_process:
            from pyterrier import tqdm

            bar = tqdm(total=config.steps, initial=self.step, desc=self.metadata.get("role", "training"), unit="step")
        try:
            while self.step < config.steps:
                for callback in callbacks:
                    callback.before_step(self, self.step)
                with autocast(self.precision, self.accelerator.device):  # per step: no cast cache outlives it
                    loss = loss_fn(self.step, self.rank, self.world).float()
                if not torch.isfinite(loss):
                    kept = f"the last good checkpoint is {self.state_dir}" if self.state_dir.exists() else \
                        "no checkpoint was written yet"
                    raise FloatingPointError(f"loss is {loss.item()} at step {self.step} ({self.precision}); "
                                             f"stopped, {kept}")
                self.accelerator.backward(self.scaler.scale(loss) if self.scaler else loss)
                if self.scaler:
                    self.scaler.unscale_(self.optimizer)
                self.accelerator.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
                if self.scaler:
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
                self.schedule.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.losses.append(float(loss.detach()))
                self.step += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{np.mean(self.losses[-20:]):.4f}")
                if self.step % config.checkpoint_every == 0 and self.step < config.steps:
                    self.save_state()
            self.model.eval()
            for callback in callbacks:
                callback.after_training(self)
            return self.save_final()
        except KeyboardInterrupt:
            logger.warning("interrupted at step %d: saving %s", self.step, self.state_dir)
            self.save_state()
            raise
        finally:
            if bar is not None:
                bar.close()
            self._lock.close()

    def save_final(self) -> Path:
        """Write the loadable checkpoint into ``out`` (``pt_meta.json`` last) and the loss curve beside it."""
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            meta = {**self.metadata, "steps": self.step, "processes": self.world,
                    "final_loss": float(np.mean(self.losses[-20:] or [math.nan])), "training": asdict(self.config),
                    "fingerprint": self.fingerprint, "cpu": cpu_flags()}
            with naming_full_disk(self.out / "losses.json"):
                (self.out / "losses.json").write_text(json.dumps(self.losses))
            write_checkpoint(self.unwrapped(), self.tokenizer, self.out, meta, in_place=True)
            if not self.config.keep_state:
                shutil.rmtree(self.state_dir, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        return self.out
