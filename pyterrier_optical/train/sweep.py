"""Distillation sweeps: one student per configuration, each in its own folder, finished ones skipped on restart
(an interrupted one resumes from its last checkpoint), the dev scores gathered in one table."""
from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from ..models.checkpoint import is_checkpoint, read_metadata
from ..models.recipes import STUDENT, DistillConfig, TrainingConfig
from .distill import OpticalDistiller
from .selection import MAIN_METRIC, read_eval_log

logger = logging.getLogger(__name__)


def sweep_results(out) -> pd.DataFrame:
    """One row per finished run under ``out``: its dev MRR@10 at step 0 (the teacher), at the end, the best and
    the step selected, with the configuration."""
    rows = []
    for run in sorted(p for p in Path(out).iterdir() if is_checkpoint(p)):
        meta = read_metadata(run)
        by_step = {r["step"]: r[MAIN_METRIC] for r in read_eval_log(run)}
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
    base = base or STUDENT.distillation
    out = Path(out)
    for name, variant in variants.items():
        overrides, train_overrides = variant if isinstance(variant, tuple) else (variant, {})
        folder = out / name
        if is_checkpoint(folder):
            logger.info("%s: finished, skipped", name)
            continue
        config = replace(base, **overrides)
        train = replace(training, **train_overrides)
        logger.info("%s: %s", name, {k: v for k, v in asdict(config).items() if getattr(base, k) != v})
        OpticalDistiller(teacher, config, train).fit(bitext, folder, dev_bitext=dev_bitext,
                                                      eval_every=eval_every or train.steps)
    return sweep_results(out)
