"""OPTICAL distillation: the student's lower layers learn to read the other language like the teacher reads English.

Only bitext is needed. For each pair, the frozen teacher encodes the English sentence and the student (a copy of the
teacher) encodes the other-language sentence; their token states at ``align_layer`` are aligned by entropic optimal
transport (special tokens and padding masked out), and the student's layers up to ``align_layer`` learn to lower
the transport cost. With ``freeze_upper`` the layers above and the head stay the teacher's, so the matching
knowledge is untouched.
"""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import random
from dataclasses import asdict, dataclass

import torch

from .model import encode_pairs, load_cross_encoder, save_checkpoint
from .ot import ot_alignment_loss
from .training import Trainer, TrainingConfig, batch_indices, shard

logger = logging.getLogger(__name__)


@dataclass
class DistillConfig:
    """What is aligned, and how.

    Args:
        align_layer: ``"embeddings"`` (0), a layer number 1..L, or ``"last"``.
        freeze_upper: train only the layers up to ``align_layer`` (the head and upper layers stay the teacher's).
        freeze_embeddings: keep the word embeddings fixed.
        epsilon: entropic regularisation of the transport, relative to the cost spread when ``normalise_cost``.
        normalise_cost: divide each problem's costs by their maximum, so ``epsilon`` is relative.
        sinkhorn_iter: maximum Sinkhorn iterations per batch; ``sinkhorn_tol``: their stopping tolerance. On real
            token states (layer 6, epsilon 0.05 relative) 30 iterations give a transport cost within 0.1% of 200
            iterations' at a seventh of the time; the envelope gradient needs no more.
        max_length: tokens per sentence.
        english_weight: weight of a term keeping the student's states of the English sentence on the teacher's
            (the student also reads the English side of a query-document pair). 0 turns it off.
        pooled_weight: weight of a mean-pooled-vector MSE between teacher (English) and student (other). 0: off.
        ot_weight: weight of the OT term (0 gives the no-OT control).
        score_weight: weight of score distillation: over a list of English candidates per pair (its own English
            sentence and BM25 neighbours of it, so still bitext only), the student's scores for the
            other-language query follow the teacher's scores for the English one (KL of the softmaxes). 0: off
            (OT alone, as in the paper; measured worse here, see the README's ablation).
        score_candidates: candidates per pair for score distillation.
        score_temperature: softmax temperature of score distillation.
        pair_context: align the query tokens as the ranker reads them, inside a pair: the teacher reads
            ``[CLS] english [SEP] d [SEP]``, the student ``[CLS] other [SEP] d [SEP]``, ``d`` an English BM25
            neighbour of the pair's English sentence. False: each sentence is encoded alone.
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

    @property
    def needs_candidates(self) -> bool:
        return bool(self.score_weight) or self.pair_context


def encoder_layers(model):
    """The transformer blocks of a BERT-style model (``base_model.encoder.layer``)."""
    try:
        return model.base_model.encoder.layer
    except AttributeError:
        raise ValueError(f"{type(model).__name__} has no base_model.encoder.layer; OPTICAL supports BERT-style "
                         "encoders (BERT, RoBERTa, XLM-R, multilingual-e5)") from None


def resolve_layer(model, align_layer) -> int:
    """``align_layer`` as a number of transformer blocks (0 = the embedding output)."""
    n = len(encoder_layers(model))
    k = {"embeddings": 0, "last": n}.get(align_layer, align_layer)
    if not isinstance(k, int) or not 0 <= k <= n:
        raise ValueError(f"align_layer must be 'embeddings', 'last' or 0..{n}, got {align_layer!r}")
    return k


@contextlib.contextmanager
def first_layers(model, k: int):
    """Run only the first ``k`` transformer blocks while inside the block."""
    encoder = model.base_model.encoder
    full = encoder.layer
    encoder.layer = full[:k]
    try:
        yield
    finally:
        encoder.layer = full


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


def freeze_for_distillation(student, k: int, freeze_upper: bool, freeze_embeddings: bool):
    """Set ``requires_grad``: embeddings and the first ``k`` blocks train, the rest only without ``freeze_upper``."""
    layers = encoder_layers(student)
    for name, p in student.named_parameters():
        p.requires_grad_(not freeze_upper)
    for block in layers[:k]:
        block.requires_grad_(True)
    student.base_model.embeddings.requires_grad_(True)
    if freeze_embeddings:
        student.get_input_embeddings().weight.requires_grad_(False)
    trainable = [n for n, p in student.named_parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("nothing to train: align_layer 0 with frozen embeddings and upper layers")
    return trainable


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
        config: a :class:`DistillConfig`.
        training: a :class:`~pyterrier_optical.training.TrainingConfig`.
        student: where the student starts (default: a copy of the teacher); must share the teacher's tokenizer.
        tokenizer: the tokenizer of a loaded ``teacher``.
    """

    def __init__(self, teacher, config: DistillConfig | None = None, training: TrainingConfig | None = None,
                 student=None, tokenizer=None):
        self.config = config or DistillConfig()
        self.training = training or TrainingConfig(steps=300, batch_size=16, lr=2e-5, head_lr=None)
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
        else:
            self.student, student_tokenizer, _ = load_cross_encoder(student, "cpu")
            check_same_tokenizer(tokenizer, student_tokenizer)
        self.layer = resolve_layer(self.teacher, self.config.align_layer)

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
        s_states, s_mask = token_states(student, self.tokenizer, other, self.layer, c.max_length, device, context)
        total = torch.zeros((), device=device)
        parts = {}
        if c.ot_weight:
            ot_loss, transport, entropy = ot_alignment_loss(t_states, s_states, t_mask, s_mask, c.epsilon,
                                                            c.normalise_cost, c.sinkhorn_iter, c.sinkhorn_tol)
            total = total + c.ot_weight * ot_loss
            parts.update(ot=ot_loss.item(), plan_entropy=entropy.mean().item(),
                         sinkhorn_error=transport.marginal_error)
        if c.pooled_weight:
            pooled = torch.nn.functional.mse_loss(_mean_pool(s_states, s_mask), _mean_pool(t_states, t_mask))
            total = total + c.pooled_weight * pooled
            parts["pooled"] = pooled.item()
        if c.english_weight:
            s_en, _ = token_states(student, self.tokenizer, english, self.layer, c.max_length, device, context)
            mask = t_mask.unsqueeze(-1).float()
            drift = (((s_en - t_states) ** 2) * mask).sum() / (mask.sum() * s_en.shape[-1]).clamp_min(1)
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
            return model(**enc).logits[:, -1].view(len(queries), n) / c.score_temperature

        with torch.no_grad():
            target = torch.log_softmax(logits(self.teacher, english), -1)
        predicted = torch.log_softmax(logits(student, other), -1)
        kl = torch.nn.functional.kl_div(predicted, target, log_target=True, reduction="batchmean")
        return kl * c.score_temperature ** 2

    def fit(self, bitext, out, dev_bitext=None, eval_every: int | None = None, select_on_dev: bool = True) -> str:
        """Train on ``bitext`` (``(english, other)`` pairs) and write the student to ``out``.

        ``dev_bitext`` pairs (best from another source than ``bitext``; none may share an English string with it)
        are scored at step 0 (the teacher), every ``eval_every`` steps and at the end: OT loss and
        translation-retrieval MRR@10, logged to ``out/eval.jsonl``. With ``select_on_dev`` the result is the best
        of these checkpoints by dev MRR@10 — the teacher itself when no student beats it (``selected_step`` in
        ``optical.json``). Resumes from ``out/state``.
        """
        pairs = [(e, o) for e, o in bitext]
        if not pairs:
            raise ValueError("no bitext pairs")
        dev = list(dev_bitext or [])
        check_disjoint(pairs, dev)
        t = self.training
        trainable = freeze_for_distillation(self.student, self.layer, self.config.freeze_upper,
                                            self.config.freeze_embeddings)
        logger.info("distilling %d trainable tensors up to layer %d on %d pairs", len(trainable), self.layer,
                    len(pairs))
        metadata = {"role": "student", "base_model": self.teacher_metadata.get("base_model"),
                    "teacher": self.teacher_metadata.get("path"), "max_length": self.teacher_metadata.get(
                        "max_length", 128), "distillation": asdict(self.config), "bitext_pairs": len(pairs)}
        # no dropout: its noise would dominate the transport cost
        # the blocks above align_layer take no part in the loss: DDP must know when they are trainable
        trainer = Trainer(self.student, self.tokenizer, out, t, metadata=metadata, dropout=False,
                          unused_parameters=not self.config.freeze_upper)
        self.teacher.to(trainer.accelerator.device)
        pools = self._candidates(pairs, t.seed)
        evaluate = bool(dev and eval_every) and trainer.accelerator.is_main_process
        selection = DevSelection(trainer, dev, self) if evaluate else None

        def loss_fn(step, rank, world):
            if selection and step % eval_every == 0:
                selection.evaluate(step)
            indices = shard(batch_indices(step, t.batch_size, len(pairs), t.seed), rank, world)
            loss, _ = self.loss(trainer.model, [pairs[i] for i in indices], trainer.accelerator.device,
                                [pools[i] for i in indices] if pools else None)
            return loss

        path = trainer.run(loss_fn, save=selection is None)  # the folder is final only once selection is done
        if selection:
            selection.evaluate(trainer.step)
            if select_on_dev:
                selection.restore_best()
            else:
                trainer.save_final()
        return str(path)

    def _candidates(self, pairs, seed: int = 0):
        """One English candidate list per pair (its own English first) when the loss needs them."""
        if not self.config.needs_candidates:
            return None
        from .evaluation import translation_candidates

        return translation_candidates([en for en, _ in pairs], self.config.score_candidates, seed)


def check_disjoint(train, dev):
    """Refuse a dev set that shares English strings with the training bitext: it would reward memorising them."""
    seen = {en.casefold() for en, _ in train}
    shared = sum(en.casefold() in seen for en, _ in dev)
    if shared:
        raise ValueError(f"{shared} of {len(dev)} dev pairs share their English string with the training bitext; "
                         "choose a dev set from another split or source")


class DevSelection:
    """Scores the student on dev bitext during training and keeps the best checkpoint in ``out/best``."""

    LOSS_PAIRS = 32

    def __init__(self, trainer, dev, distiller, max_pairs: int = 256):
        self.trainer, self.distiller = trainer, distiller
        self.dev = random.Random(0).sample(dev, min(max_pairs, len(dev)))  # all languages of a mixed dev set
        self.pools = distiller._candidates(self.dev)
        self.log = trainer.out / "eval.jsonl"
        self.best_dir = trainer.out / "best"
        records = [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []
        self.scored = {r["step"] for r in records}
        best = max(records, key=lambda r: r["dev_mrr@10"], default=None)
        self.best = (best["dev_mrr@10"], best["step"]) if best and self.best_dir.exists() else (-1.0, None)

    def evaluate(self, step: int):
        if step in self.scored:
            return
        from .evaluation import translation_retrieval_mrr

        model, d = self.trainer.unwrapped(), self.distiller
        n = self.LOSS_PAIRS  # the dev loss is logged for diagnosis; the selection uses MRR@10
        with torch.no_grad():
            loss, parts = d.loss(model, self.dev[:n], self.trainer.accelerator.device,
                                 self.pools[:n] if self.pools else None)
        mrr = translation_retrieval_mrr(model, d.tokenizer, self.dev, max_queries=len(self.dev))
        if mrr > self.best[0]:
            self.best = (mrr, step)
            save_checkpoint(model, d.tokenizer, self.best_dir, {"step": step, "dev_mrr@10": mrr})
        record = {"step": step, "dev_loss": float(loss), **{f"dev_{k}": v for k, v in parts.items()},
                  "dev_mrr@10": mrr}
        logger.info("eval %s", record)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.scored.add(step)
        model.train(self.trainer.dropout)

    def restore_best(self):
        """Make the best dev checkpoint the output (step 0 is the teacher)."""
        mrr, step = self.best
        self.trainer.metadata.update(selected_step=step, selected_dev_mrr=mrr)
        if step != self.trainer.step:
            from safetensors.torch import load_file

            self.trainer.unwrapped().load_state_dict(load_file(self.best_dir / "model.safetensors"), strict=False)
            logger.warning("step %d is the best on dev (MRR@10 %.3f); it is the output", step, mrr)
        self.trainer.save_final()


def _mean_pool(states, mask):
    m = mask.unsqueeze(-1).float()
    return (states * m).sum(1) / m.sum(1).clamp_min(1)
