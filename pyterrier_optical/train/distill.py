"""OPTICAL distillation: the student's lower layers learn to read the other language like the teacher reads English.

Only bitext is needed. For each pair, the frozen teacher encodes the English sentence and the student (a copy of the
teacher) encodes the other-language sentence; their token states at ``align_layer`` are aligned by entropic optimal
transport (special tokens and padding masked out), and the student's layers up to ``align_layer`` learn to lower
the transport cost. With ``freeze_upper`` the layers above and the head stay the teacher's, so the matching
knowledge is untouched.
"""
from __future__ import annotations

import copy
import logging
import math
import random
from dataclasses import asdict, replace

import torch

from ..data.bitext import mixed_bitext, shipped_languages
from ..models.cross_encoder import load_cross_encoder
from ..retrieve.dense import E5Encoder
from ..models.scoring import encode_pairs, mean_pool, relevance_logits
from ..models.recipes import DEV_PAIRS, STUDENT, DistillConfig, StudentRecipe, TrainingConfig
from .layers import first_layers, keep_blocks, resolve_layer, set_trainable
from .curve import LearningCurve
from .loop import Trainer, batch_indices, digest, shard
from .ot import ot_alignment_loss
from .selection import DevSelection, translation_candidates

logger = logging.getLogger(__name__)


def token_states(model, tokenizer, texts, k: int, max_length: int, device, context=None):
    """States after ``k`` blocks (B, n, d) and the mask of the real tokens of ``texts`` (no specials, no padding).

    With ``context`` (one text per text) each text is read as the query of a (text, context) pair and only the
    query's tokens are in the mask.
    """
    if context is None:
        enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt",
                        return_special_tokens_mask=True)
        mask = enc["attention_mask"].bool() & ~enc.pop("special_tokens_mask").bool()
    else:
        enc = encode_pairs(tokenizer, list(texts), list(context), 2 * max_length, padding=True, return_tensors="pt")
        mask = torch.tensor([[s == 0 for s in enc.sequence_ids(i)] for i in range(len(texts))])
    enc = enc.to(device)
    with first_layers(getattr(model, "module", model), k):  # a DDP-wrapped model is truncated inside
        states = model(**enc, output_hidden_states=True).hidden_states[-1]  # through forward, so DDP syncs
    return states, mask.to(device)


def check_same_tokenizer(teacher_tokenizer, student_tokenizer):
    """Teacher and student must split text the same way for their token states to be compared."""
    probe = ["Open a new tab", "Fungua kichupo kipya", "नवीन टॅब उघडा", "አዲስ ትር ክፈት"]
    if teacher_tokenizer.get_vocab() != student_tokenizer.get_vocab() or \
            teacher_tokenizer(probe)["input_ids"] != student_tokenizer(probe)["input_ids"]:
        raise ValueError("teacher and student have different tokenizers; the student must start from the teacher "
                         "(or a model with the same tokenizer)")


class OpticalDistiller:
    """Distil a teacher cross-encoder into a student that reads another language, from bitext only.

    Args:
        teacher: a reranker checkpoint (path/hub id) or a loaded cross-encoder (then give ``tokenizer``).
        config: a :class:`DistillConfig` (default: the embedded student's,
            :data:`~pyterrier_optical.models.recipes.STUDENT`).
        training: a :class:`~pyterrier_optical.models.recipes.TrainingConfig`.
        student: where the student starts (default: a copy of the teacher); must share the teacher's tokenizer.
        tokenizer: the tokenizer of a loaded ``teacher``.
    """

    def __init__(self, teacher, config: DistillConfig | None = None, training: TrainingConfig | None = None,
                 student=None, tokenizer=None):
        self.config = config or STUDENT.distillation
        self.training = training or STUDENT.training
        if tokenizer is None:
            teacher, tokenizer, meta = load_cross_encoder(teacher, "cpu")
        else:
            meta = {}
        self.teacher_metadata = meta
        self.teacher, self.tokenizer = teacher.eval(), tokenizer
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        if student is None:
            self.student = copy.deepcopy(self.teacher)
            if self.config.student_layers:
                keep_blocks(self.student, self.config.student_layers)
        else:
            self.student, student_tokenizer, _ = load_cross_encoder(student, "cpu")
            check_same_tokenizer(tokenizer, student_tokenizer)
        self.layer = resolve_layer(self.teacher, self.config.align_layer)
        self.student_layer = resolve_layer(self.student, self.config.align_layer)
        # the second teacher; the English candidates recur over the steps: their vectors are kept
        self.dense_teacher = E5Encoder(cache=True) if self.config.dense_teacher_weight else None

    def set_trainable(self) -> list:
        """The student's embeddings and blocks up to ``align_layer`` train, the rest only without
        ``freeze_upper``; returns the trainable parameters' names."""
        c = self.config
        return set_trainable(self.student, self.student_layer, lower=True, upper=not c.freeze_upper,
                             word_embeddings=not c.freeze_embeddings)

    def loss(self, student, pairs, device, candidates=None) -> tuple:
        """The distillation loss of a batch of ``(english, other)`` pairs, and its parts for logging.

        ``candidates`` (one list of English documents per pair, the pair's own English first) are needed with
        ``score_weight`` or ``pair_context``.
        """
        c = self.config
        english, other = [p[0] for p in pairs], [p[1] for p in pairs]
        if c.needs_candidates and candidates is None:
            raise ValueError("score distillation and pair-context alignment need candidate documents for each pair")
        context = [pool[1] if len(pool) > 1 else pool[0] for pool in candidates] if c.pair_context else None
        with torch.no_grad():
            t_states, t_mask = token_states(self.teacher, self.tokenizer, english, self.layer, c.max_length, device,
                                            context)
        s_states, s_mask = token_states(student, self.tokenizer, other, self.student_layer, c.max_length, device,
                                        context)
        total = torch.zeros((), device=device)
        parts = {}
        if c.ot_weight:
            ot_loss, transport, entropy = ot_alignment_loss(t_states, s_states, t_mask, s_mask, c.epsilon,
                                                            c.normalise_cost, c.sinkhorn_iter, c.sinkhorn_tol)
            total = total + c.ot_weight * ot_loss
            parts.update(ot=ot_loss.item(), plan_entropy=entropy.mean().item(),
                         sinkhorn_error=transport.marginal_error)
        if c.pooled_weight:
            pooled = torch.nn.functional.mse_loss(mean_pool(s_states.float(), s_mask, normalise=False),
                                                  mean_pool(t_states.float(), t_mask, normalise=False))
            total = total + c.pooled_weight * pooled
            parts["pooled"] = pooled.item()
        if c.english_weight:
            s_en, _ = token_states(student, self.tokenizer, english, self.student_layer, c.max_length, device,
                                   context)
            mask = t_mask.unsqueeze(-1).float()
            drift = (((s_en.float() - t_states.float()) ** 2) * mask).sum() / (mask.sum() * s_en.shape[-1]).clamp_min(1)
            total = total + c.english_weight * drift
            parts["english"] = drift.item()
        if c.score_weight:
            kl = self._score_distillation(student, english, other, candidates, device)
            total = total + c.score_weight * kl
            parts["score_kl"] = kl.item()
        return total, parts

    def _score_distillation(self, student, english, other, candidates, device) -> torch.Tensor:
        """KL(teacher(q_en, d) || student(q_x, d)) over each pair's candidate documents."""
        c = self.config
        docs = [d for pool in candidates for d in pool]
        counts = {len(pool) for pool in candidates}
        if len(counts) != 1:
            raise ValueError("every pair needs the same number of candidates")
        n = counts.pop()
        length = 2 * c.max_length

        def logits(model, queries):
            enc = encode_pairs(self.tokenizer, [q for q in queries for _ in range(n)], docs, length, padding=True,
                               return_tensors="pt").to(device)
            return relevance_logits(model, enc).float().view(len(queries), n) / c.score_temperature

        with torch.no_grad():
            target = self.score_target(torch.log_softmax(logits(self.teacher, english), -1), other, candidates)
        predicted = torch.log_softmax(logits(student, other), -1)
        kl = torch.nn.functional.kl_div(predicted, target, log_target=True, reduction="batchmean")
        return kl * c.score_temperature ** 2

    def score_target(self, teacher_log_probs, other, candidates) -> torch.Tensor:
        """The score-distillation target, log-probabilities over each pair's candidates: the teacher's, mixed with
        the second teacher's (mE5 reading ``other`` against the candidates) at ``dense_teacher_weight``. A subclass
        may set another target."""
        weight = self.config.dense_teacher_weight
        if not weight:
            return teacher_log_probs
        n = teacher_log_probs.shape[-1]
        cosine = torch.from_numpy(self.dense_teacher.score([q for q in other for _ in range(n)],
                                                           [d for pool in candidates for d in pool]))
        dense_log_probs = torch.log_softmax(cosine.view(len(other), n).float() / self.config.dense_teacher_temperature,
                                            -1).to(teacher_log_probs.device)
        if weight == 1:
            return dense_log_probs
        return torch.logsumexp(torch.stack([teacher_log_probs + math.log(1 - weight),
                                            dense_log_probs + math.log(weight)]), 0)

    def fit(self, bitext, out, dev_bitext=None, eval_every: int | None = None, select_on_dev: bool = True,
            dev_pairs: int = DEV_PAIRS, restart: bool = False, dev_candidates: str = "bm25",
            curve_every: int | None = None) -> str:
        """Train on ``bitext`` (``(english, other)`` pairs) and write the student to ``out``.

        ``dev_bitext`` pairs (best from another source than ``bitext``; none may share an English string with it;
        ``dev_pairs`` of them, drawn once) are scored at step 0 (the teacher), every ``eval_every`` steps and at
        the end: translation-retrieval MRR@10 and the dev loss, logged to ``out/eval.jsonl``. With
        ``select_on_dev`` the result is the best of these checkpoints by dev MRR@10 — the teacher itself when no
        student beats it (``selected_step`` in the metadata). Resumes from ``out/state`` (only a run with the same
        settings and data; ``restart`` starts over). ``curve_every`` logs learning curves
        (:class:`~pyterrier_optical.train.curve.LearningCurve`) to ``out/curve.jsonl``.
        """
        pairs = [(e, o) for e, o in bitext]
        if not pairs:
            raise ValueError("no bitext pairs")
        dev = list(dev_bitext or [])
        check_disjoint(pairs, dev)
        t = self.training
        trainable = self.set_trainable()
        logger.info("distilling %d trainable tensors up to layer %d on %d pairs", len(trainable), self.layer,
                    len(pairs))
        metadata = {"role": "student", "base_model": self.teacher_metadata.get("base_model"),
                    "teacher": self.teacher_metadata.get("path"), "max_length": self.teacher_metadata.get(
                        "max_length", 128), "distillation": asdict(self.config), "bitext_pairs": len(pairs)}
        # no dropout: its noise would dominate the transport cost
        # the blocks above align_layer take no part in the loss: DDP must know when they are trainable
        data = {**{f"distillation.{k}": v for k, v in asdict(self.config).items()}, "bitext": digest(pairs),
                "dev": digest(dev), "eval_every": eval_every, "select_on_dev": select_on_dev,
                "dev_candidates": dev_candidates,
                "teacher": str(self.teacher_metadata.get("base_model"))}
        trainer = Trainer(self.student, self.tokenizer, out, t, metadata=metadata, dropout=False,
                          unused_parameters=not self.config.freeze_upper, data=data, restart=restart)
        device = trainer.accelerator.device
        self.teacher.to(device)
        pools = self.candidates(pairs, t.seed)
        callbacks = []  # the curve first: its last point is of the last step's weights, before the selection
        if curve_every and trainer.accelerator.is_main_process:
            callbacks.append(LearningCurve(self.tokenizer, curve_every))
        if dev and eval_every and trainer.accelerator.is_main_process:
            callbacks.append(self.dev_selection(dev, eval_every, select_on_dev, dev_pairs, device,
                                                dev_candidates=dev_candidates))

        def loss_fn(step, rank, world):
            indices = shard(batch_indices(step, t.batch_size, len(pairs), t.seed), rank, world)
            loss, _ = self.loss(trainer.model, [pairs[i] for i in indices], device,
                                [pools[i] for i in indices] if pools else None)
            return loss

        return str(trainer.run(loss_fn, callbacks))

    def candidates(self, pairs, seed: int = 0):
        """One English candidate list per pair (its own English first) when the loss needs them, else None."""
        if not self.config.needs_candidates:
            return None
        return translation_candidates([en for en, _ in pairs], self.config.score_candidates, seed,
                                      self.config.candidate_source)

    def dev_selection(self, dev, every: int, select: bool, max_pairs: int, device, dev_candidates: str,
                      loss_pairs: int = 32) -> DevSelection:
        """The dev selection callback of :meth:`fit`: ``max_pairs`` dev pairs of all languages, their candidate
        pools (from ``dev_candidates``) built once, the dev loss of the first ``loss_pairs`` logged beside
        MRR@10."""
        sample = random.Random(0).sample(dev, min(max_pairs, len(dev)))
        loss_batch = sample[:loss_pairs]
        loss_pools = self.candidates(loss_batch)

        def diagnostics(model) -> dict:
            with torch.no_grad():
                loss, parts = self.loss(model, loss_batch, device, loss_pools)
            return {"dev_loss": float(loss), **{f"dev_{k}": v for k, v in parts.items()}}

        pools = translation_candidates([en for en, _ in sample], source=dev_candidates)
        return DevSelection(sample, pools, self.tokenizer, every, select, diagnostics)


def distill_student(teacher, out, recipe: StudentRecipe = STUDENT, bitext=None, dev_bitext=None,
                    verbose: bool = True, restart: bool = False, curve_every: int | None = None,
                    distiller: type = OpticalDistiller, **distiller_args) -> str:
    """Distil ``teacher`` into an OPTICAL student with ``recipe`` (resumes an interrupted run).

    By default the student reads the shipped Chromium bitext of ``recipe.languages`` (mixed) and is selected on
    their shipped dev split of ``recipe.dev_source`` (Kolibri: another source). ``distiller`` is the class that
    distils (a subclass may change the loss), given ``distiller_args``.
    """
    if bitext is None:
        bitext = training_bitext(recipe)
    if dev_bitext is None:
        dev_bitext = mixed_bitext(recipe.languages, "dev", recipe.dev_source)
    distiller = distiller(str(teacher), recipe.distillation, replace(recipe.training, verbose=verbose),
                          **distiller_args)
    return distiller.fit(bitext, out, dev_bitext=dev_bitext, eval_every=recipe.eval_every if dev_bitext else None,
                         select_on_dev=recipe.select_on_dev, restart=restart, dev_candidates=recipe.dev_candidates,
                         curve_every=curve_every)


def training_bitext(recipe: StudentRecipe) -> list:
    """The shipped training bitext of ``recipe``: the Chromium sentences of its languages, and with ``cldr`` among
    its sources the CLDR phrases of every language that has them (at ``cldr_share`` of the pairs)."""
    pairs = mixed_bitext(recipe.languages, "train") if "chromium" in recipe.bitext_sources else []
    if "cldr" in recipe.bitext_sources:
        cldr = mixed_bitext(shipped_languages("cldr"), "train", "cldr")
        if recipe.cldr_share is not None and pairs:
            wanted = round(len(pairs) * recipe.cldr_share / (1 - recipe.cldr_share))
            cldr = random.Random(recipe.training.seed).sample(cldr, min(wanted, len(cldr)))
        pairs += cldr
    return pairs


def check_disjoint(train, dev):
    """Refuse a dev set that shares English strings with the training bitext: it would reward memorising them."""
    seen = {en.casefold() for en, _ in train}
    shared = sum(en.casefold() in seen for en, _ in dev)
    if shared:
        raise ValueError(f"{shared} of {len(dev)} dev pairs share their English string with the training bitext; "
                         "choose a dev set from another split or source")
