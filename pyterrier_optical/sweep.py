"""Distillation sweeps: one student per configuration, each in its own folder, finished ones skipped on restart
(an interrupted one resumes from its last checkpoint), the dev scores gathered in one table."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from .distill import DistillConfig, OpticalDistiller
from .model import METADATA_FILE
from .training import TrainingConfig

logger = logging.getLogger(__name__)


def sweep_results(out) -> pd.DataFrame:
    """One row per finished run under ``out``: its dev MRR@10 at step 0 (the teacher), at the end, the best and
    the step selected, with the configuration."""
    rows = []
    for meta_file in sorted(Path(out).glob(f"*/{METADATA_FILE}")):
        run = meta_file.parent
        records = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
        meta = json.loads(meta_file.read_text())
        by_step = {r["step"]: r["dev_mrr@10"] for r in records}
        rows.append({"run": run.name, "teacher": by_step.get(0), "last": by_step[max(by_step)],
                     "best": max(by_step.values()), "selected_step": meta.get("selected_step"),
                     **meta["distillation"], "steps": meta["training"]["steps"],
                     "seed": meta["training"]["seed"]})
    return pd.DataFrame(rows)


def distillation_sweep(teacher, variants: dict, bitext, dev_bitext, out, training: TrainingConfig,
                       base: DistillConfig | None = None, eval_every: int | None = None) -> pd.DataFrame:
    """Distil ``teacher`` once per variant (name -> :class:`DistillConfig` field overrides, or a ``(overrides,
    training overrides)`` pair) into ``out/<name>``, selecting on ``dev_bitext``; returns :func:`sweep_results`.

    Runs whose folder already holds a finished student are skipped, so an interrupted sweep restarts where it
    stopped.
    """
    base = base or DistillConfig()
    out = Path(out)
    for name, variant in variants.items():
        overrides, train_overrides = variant if isinstance(variant, tuple) else (variant, {})
        folder = out / name
        if (folder / METADATA_FILE).exists():
            logger.info("%s: finished, skipped", name)
            continue
        config = replace(base, **overrides)
        train = replace(training, **train_overrides)
        logger.info("%s: %s", name, {k: v for k, v in asdict(config).items() if getattr(base, k) != v})
        OpticalDistiller(teacher, config, train).fit(bitext, folder, dev_bitext=dev_bitext,
                                                      eval_every=eval_every or train.steps)
    return sweep_results(out)
