"""Every training setting as data: the optimisation (:class:`TrainingConfig`), the distillation
(:class:`DistillConfig`), and the recipes that combine them (:class:`TeacherRecipe`, :class:`StudentRecipe`).

The embedded rerankers' recipes (:data:`TEACHER`, :data:`CODESWITCH_TEACHER`, :data:`STUDENT`) are the one source of
truth: the embedded builds, ``optical train-teacher`` and ``optical distill`` (whose flags are these fields, with
these defaults), ``OpticalDistiller()`` and the demo all read them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from ..data.bitext import CHROMIUM_LANGUAGES, SOURCES, TRAINING_SOURCES
from ..util.device import PRECISIONS
from .backbones import E5_SMALL


# the recipe's fixed evaluations (dev selection, learning curves, the release's fidelity check) and its mE5
# candidate encodings score at these settings: part of the recipe (bf16 results move a little with the batching),
# so they stay as the shipped models were selected, apart from inference's measured CPU default of 16
EVAL_BATCH_SIZE = 64
EVAL_MAX_LENGTH = 256
DEV_PAIRS = 256  # dev pairs drawn for selection and for the release's fidelity check
RUNTIME_FIELDS = ("verbose", "device", "precision", "checkpoint_every", "keep_state")  # may change on resume
DENSE_TEACHER_FIELDS = ("dense_teacher_weight", "dense_teacher_temperature")
# fields added after models shipped, left out of the fingerprint at these values so that those models stay current
LATER_FIELDS = {"distillation": {"student_layers": None},
                "recipe": {"bitext_sources": ("chromium",), "cldr_share": None}}


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings.

    Args:
        steps: optimizer steps.
        batch_size: training examples per step (over all processes).
        lr: learning rate of the encoder.
        head_lr: learning rate of the new parts (classification head); None: ``lr``.
        warmup: fraction of the steps with a linear warm-up, followed by linear decay.
        weight_decay: AdamW weight decay.
        max_grad_norm: gradient clipping.
        checkpoint_every: steps between checkpoints.
        seed: seeds shuffling and initialisation.
        device: torch device for a single process (None: CUDA when available).
        precision: ``fp32``, ``bf16``, ``fp16`` (loss scaling; GPUs) or ``auto`` (bf16 where the hardware has it,
            fp16 on a GPU without, fp32 elsewhere); autocast is entered per step, the OT, the softmaxes and the
            optimizer stay in float32.
        keep_state: keep the resumable state (``out/state``) after the final checkpoint is written.
        verbose: progress bar with the loss.
    """

    steps: int = 200
    batch_size: int = 8
    lr: float = 3e-5
    head_lr: float | None = 3e-4
    warmup: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    checkpoint_every: int = 50
    seed: int = 42
    device: str | None = None
    precision: str = "fp32"
    keep_state: bool = False
    verbose: bool = True

    def __post_init__(self):
        for name in ("steps", "batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")
        for name in ("lr", "weight_decay", "max_grad_norm"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.head_lr is not None and self.head_lr < 0:
            raise ValueError(f"head_lr must be >= 0 or None, got {self.head_lr}")
        if self.device and self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"device {self.device!r} was asked for, but CUDA is not available here")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose from {', '.join(PRECISIONS)}")


CANDIDATE_SOURCES = ("bm25", "mE5")


@dataclass(frozen=True)
class DistillConfig:
    """What is aligned, and how.

    Args:
        align_layer: ``"embeddings"`` (0), a layer number 1..L, or ``"last"``.
        freeze_upper: train only the layers up to ``align_layer`` (the head and upper layers stay the teacher's).
        freeze_embeddings: keep the word embeddings fixed.
        epsilon: entropic regularisation of the transport, relative to the cost spread when ``normalise_cost``.
        normalise_cost: divide each problem's costs by their maximum, so ``epsilon`` is relative.
        sinkhorn_iter: maximum Sinkhorn iterations per batch. On real token states (layer 6, epsilon 0.05
            relative) 30 iterations give a transport cost within 0.1% of 200 iterations' at a seventh of the time;
            the envelope gradient needs no more.
        sinkhorn_tol: the Sinkhorn stopping tolerance (marginal error).
        max_length: tokens per sentence.
        english_weight: weight of a term keeping the student's states of the English sentence on the teacher's
            (the student also reads the English side of a query-document pair). 0 turns it off.
        pooled_weight: weight of a mean-pooled-vector MSE between teacher (English) and student (other). 0: off.
        ot_weight: weight of the OT term (0 gives the no-OT control).
        score_weight: weight of score distillation: over a list of English candidates per pair (its own English
            sentence and BM25 neighbours of it, so still bitext only), the student's scores for the
            other-language query follow the teacher's scores for the English one (KL of the softmaxes). 0: off
            (OT alone, as in the paper; measured worse here, see the ablation in docs/study.md).
        score_candidates: candidates per pair for score distillation.
        score_temperature: softmax temperature of score distillation.
        pair_context: align the query tokens as the ranker reads them, inside a pair: the teacher reads
            ``[CLS] english [SEP] d [SEP]``, the student ``[CLS] other [SEP] d [SEP]``, ``d`` an English BM25
            neighbour of the pair's English sentence. False: each sentence is encoded alone.
        candidate_source: where the English candidates come from: ``bm25`` (lexical neighbours) or ``mE5`` (the
            nearest sentences by multilingual-e5-small, the hard negatives a dense first stage hands the reranker).
        dense_teacher_weight: a second teacher in score distillation: the target is ``1 - weight`` the teacher's
            softmax plus ``weight`` that of the embedded multilingual-e5-small, which reads the pair's
            other-language sentence as a query against the same English candidates (the data stay bitext only).
            0: the teacher alone.
        dense_teacher_temperature: the temperature of the second teacher's softmax over its cosines (0.01, as e5
            was trained).
        student_layers: a smaller student: it keeps this many of the teacher's transformer blocks, evenly spaced
            with the last one kept, and its last block is aligned to the teacher's (``align_layer="last"``).
            None: all of them.
    """

    align_layer: int | str = 6
    freeze_upper: bool = True
    freeze_embeddings: bool = True
    epsilon: float = 0.05
    normalise_cost: bool = True
    sinkhorn_iter: int = 30
    sinkhorn_tol: float = 1e-3
    max_length: int = 64
    english_weight: float = 0.0
    pooled_weight: float = 0.0
    ot_weight: float = 1.0
    score_weight: float = 1.0
    score_candidates: int = 8
    score_temperature: float = 1.0
    pair_context: bool = False
    candidate_source: str = "bm25"
    dense_teacher_weight: float = 0.0
    dense_teacher_temperature: float = 0.01
    student_layers: int | None = None

    def __post_init__(self):
        if self.candidate_source not in CANDIDATE_SOURCES:
            raise ValueError(f"candidate_source must be one of {CANDIDATE_SOURCES}, got {self.candidate_source!r}")
        if self.max_length < 8:
            raise ValueError(f"max_length must be >= 8, got {self.max_length}")
        if self.epsilon <= 0 or self.sinkhorn_iter < 1 or self.sinkhorn_tol <= 0:
            raise ValueError(f"epsilon and sinkhorn_tol must be > 0 and sinkhorn_iter >= 1, got {self.epsilon}, "
                             f"{self.sinkhorn_tol}, {self.sinkhorn_iter}")
        for name in ("english_weight", "pooled_weight", "ot_weight", "score_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.needs_candidates and self.score_candidates < 2:
            raise ValueError(f"score_candidates must be >= 2 (the pair's own English and a neighbour), got "
                             f"{self.score_candidates}")
        if self.score_temperature <= 0:
            raise ValueError(f"score_temperature must be > 0, got {self.score_temperature}")
        if not 0 <= self.dense_teacher_weight <= 1 or self.dense_teacher_temperature <= 0:
            raise ValueError(f"dense_teacher_weight must be in [0, 1] and dense_teacher_temperature > 0, got "
                             f"{self.dense_teacher_weight}, {self.dense_teacher_temperature}")
        if self.student_layers is not None and (self.student_layers < 1 or self.align_layer != "last"):
            raise ValueError(f"student_layers must be >= 1 and needs align_layer 'last', got {self.student_layers} "
                             f"with align_layer {self.align_layer!r}")
        if self.dense_teacher_weight and not self.score_weight:
            raise ValueError("dense_teacher_weight mixes a second teacher into score distillation: it needs "
                             "score_weight > 0")

    @property
    def needs_candidates(self) -> bool:
        return bool(self.score_weight) or self.pair_context


@dataclass(frozen=True)
class TeacherRecipe:
    """How a teacher cross-encoder is trained on English (query, positive, negatives) examples.

    Args:
        training: the optimisation.
        base_model: backbone or checkpoint to start from.
        max_length: tokens per (query, document) pair.
        negatives: negatives per example in the softmax.
        freeze_embeddings: keep the word embeddings fixed (faster; they cover languages the task never shows).
        freeze_layers: keep the embedding layer and the first this many transformer blocks fixed (0: none), so the
            backbone's multilingual lower layers stay as they are.
        codeswitch: code-switch the training queries at this ratio (None: off), the code-switched baseline.
        codeswitch_languages: the languages switched into (several: one drawn per word).
        codeswitch_fields: what is switched: ``query`` and/or ``documents``.
    """

    training: TrainingConfig = field(default_factory=TrainingConfig)
    base_model: str = E5_SMALL
    max_length: int = 64
    negatives: int = 7
    freeze_embeddings: bool = True
    freeze_layers: int = 0
    codeswitch: float | None = None
    codeswitch_languages: tuple = CHROMIUM_LANGUAGES
    codeswitch_fields: tuple = ("query",)

    def __post_init__(self):
        if self.max_length < 8:
            raise ValueError(f"max_length must be >= 8, got {self.max_length}")
        if self.negatives < 1:
            raise ValueError(f"negatives must be >= 1, got {self.negatives}")
        if self.freeze_layers < 0:
            raise ValueError(f"freeze_layers must be >= 0, got {self.freeze_layers}")
        if self.codeswitch is not None and not 0 <= self.codeswitch <= 1:
            raise ValueError(f"codeswitch must be a ratio in [0, 1], got {self.codeswitch}")
        unknown = set(self.codeswitch_fields) - {"query", "documents"}
        if unknown or not self.codeswitch_fields:
            raise ValueError(f"codeswitch_fields must be among query and documents, got {list(self.codeswitch_fields)}")


@dataclass(frozen=True)
class StudentRecipe:
    """How a teacher is distilled into an OPTICAL student on bitext.

    Args:
        distillation: what is aligned, and how.
        training: the optimisation.
        languages: the shipped bitext languages the student reads (their training bitext mixed).
        dev_source: the shipped dev split used for checkpoint selection (``kolibri``: another source than the
            training bitext).
        eval_every: steps between dev evaluations.
        select_on_dev: the output is the best dev checkpoint (the teacher when none beats it); False: the last.
        dev_candidates: where each dev pair's candidate list comes from (``bm25`` or ``mE5``; as
            ``candidate_source``): the mE5 lists are harder, so they tell students apart better.
        bitext_sources: the shipped training bitext read: ``chromium`` (of ``languages``) and ``cldr`` (the CLDR
            phrases of every language that has them).
        cldr_share: with both sources, the share of the training pairs drawn from CLDR (its phrases subsampled,
            once, to that share; batches draw pairs uniformly); None: all of them.
    """

    distillation: DistillConfig = field(default_factory=DistillConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    languages: tuple = CHROMIUM_LANGUAGES
    dev_source: str = "kolibri"
    eval_every: int = 25
    select_on_dev: bool = True
    dev_candidates: str = "bm25"
    bitext_sources: tuple = ("chromium",)
    cldr_share: float | None = None

    def __post_init__(self):
        if self.cldr_share is not None and not 0 < self.cldr_share < 1:
            raise ValueError(f"cldr_share must be in (0, 1) or None, got {self.cldr_share}")
        if self.dev_candidates not in CANDIDATE_SOURCES:
            raise ValueError(f"dev_candidates must be one of {CANDIDATE_SOURCES}, got {self.dev_candidates!r}")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1, got {self.eval_every}")
        unknown = set(self.bitext_sources) - set(TRAINING_SOURCES)
        if unknown or not self.bitext_sources:
            raise ValueError(f"bitext_sources must be among {' and '.join(TRAINING_SOURCES)}, "
                             f"got {list(self.bitext_sources)}")
        if self.dev_source not in SOURCES:
            raise ValueError(f"dev_source must be one of {SOURCES}, got {self.dev_source!r}")


# the embedded rerankers' recipes, as measured in docs/study.md and docs/precision.md; bf16 where the hardware has it
# (its builds matched or beat the fp32 ones on Kolibri dev: teacher .708 vs .709, student .956 vs .942), fp32 elsewhere
# The teacher trains only above the layers OPTICAL aligns (freeze_layers = the student's align_layer): mE5's lower
# layers stay multilingual (Kolibri dev, mE5 top 20, teacher zero-shot low-resource MRR@10: .301 with nothing frozen,
# .356 with 4 blocks, .458 with 6, .292 with 9; the 100-step student from it .613 instead of .568).
TEACHER = TeacherRecipe(TrainingConfig(steps=160, batch_size=8, lr=3e-5, head_lr=3e-4, checkpoint_every=40,
                                       precision="auto"), freeze_layers=6)
CODESWITCH_TEACHER = replace(TEACHER, codeswitch=0.5)
# the default student (docs, "Which student ships"): the whole encoder aligned (align_layer "last": all twelve blocks
# learn, the head stays the teacher's) for 800 steps, score-distillation candidates and dev lists from mE5's
# neighbours, and mE5 as a second teacher at half the score target; its step chosen on dev, the budget by learning
# curves (docs/curves/). Kolibri dev, mE5 top 20, low-resource MRR@10 reranking alone at step 600 over three seeds:
# .759 / .771 / .753 with the second teacher against .742 / .740 / .736 without (and .614 for the 100-step recipe,
# CODESWITCH_STUDENT's); fused with mE5 .826 / .840 / .823 against .822 / .838 / .820.
STUDENT = StudentRecipe(DistillConfig(align_layer="last", score_weight=1.0, score_candidates=8, candidate_source="mE5",
                                      dense_teacher_weight=0.5),
                        TrainingConfig(steps=800, batch_size=8, lr=2e-5, head_lr=None, checkpoint_every=100,
                                       precision="auto"), eval_every=100, dev_candidates="mE5")
# the code-switch teacher's student: the first-run recipe (100 steps, layer 6, BM25 candidates), a quarter of the cost
CODESWITCH_STUDENT = StudentRecipe(DistillConfig(align_layer=6, score_weight=1.0, score_candidates=8),
                                   TrainingConfig(steps=100, batch_size=8, lr=2e-5, head_lr=None, checkpoint_every=25,
                                                  precision="auto"))


def recipe_fingerprint(recipe: TeacherRecipe | StudentRecipe, **more) -> str:
    """A SHA-256 of what a recipe trains with (its settings less the runtime ones, and less the second teacher's
    when it has none: recipes without one keep the fingerprints they had before it existed) and ``more`` (such as
    the fingerprint of the teacher a student starts from): equal recipes, equal fingerprints."""
    fields = asdict(recipe)
    fields["training"] = {k: v for k, v in fields["training"].items() if k not in RUNTIME_FIELDS}
    if "distillation" in fields:
        unset = {k for k, v in LATER_FIELDS["distillation"].items() if fields["distillation"][k] == v}
        if not fields["distillation"]["dense_teacher_weight"]:
            unset |= set(DENSE_TEACHER_FIELDS)
        fields["distillation"] = {k: v for k, v in fields["distillation"].items() if k not in unset}
    fields = {k: v for k, v in fields.items() if LATER_FIELDS["recipe"].get(k, object()) != v}
    text = json.dumps({"recipe": type(recipe).__name__, **fields, **more}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
