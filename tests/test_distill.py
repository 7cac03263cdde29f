import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from pyterrier_optical import OpticalReranker
from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.train.distill import (OpticalDistiller, check_disjoint, check_same_tokenizer,
                                       distill_student, token_states)
from pyterrier_optical.models.recipes import DistillConfig, StudentRecipe, TrainingConfig

from conftest import build_tiny_tokenizer


def training(**kw):
    return TrainingConfig(**{"steps": 30, "batch_size": 8, "lr": 3e-3, "head_lr": None, "checkpoint_every": 15,
                             "device": "cpu", "verbose": False, **kw})


@pytest.fixture(scope="module")
def bitext():
    return load_bitext("sw", "train")[:64]


def test_loss_goes_down_and_only_lower_layers_change(tiny_model_dir, bitext, tmp_path):
    # OT alone, on raw costs: a loss that must fall
    config = DistillConfig(align_layer=2, epsilon=0.1, normalise_cost=False, score_weight=0.0)
    distiller = OpticalDistiller(str(tiny_model_dir), config, training())
    with torch.no_grad():
        before, _ = distiller.loss(distiller.student, bitext, "cpu")
    out = distiller.fit(bitext, tmp_path / "student", dev_bitext=load_bitext("sw", "dev")[:20], eval_every=30,
                        select_on_dev=False)
    with torch.no_grad():
        after, parts = distiller.loss(distiller.student, bitext, "cpu")
    assert after < before * 0.9
    assert 0 < parts["plan_entropy"] < 1
    teacher, student = load_file(str(tiny_model_dir / "model.safetensors")), load_file(str(tmp_path / "student" /
                                                                                         "model.safetensors"))
    changed = {name for name in teacher if not torch.equal(teacher[name], student[name])}
    assert changed and all(n.startswith(("bert.encoder.layer.0.", "bert.encoder.layer.1.", "bert.embeddings."))
                           for n in changed)
    assert not any("word_embeddings" in n for n in changed)
    reranker = OpticalReranker(out, verbose=False)
    assert reranker.metadata_["role"] == "student" and reranker.metadata_["distillation"]["align_layer"] == 2
    assert len(reranker.score(["mtandao"], ["network"])) == 1
    log = (tmp_path / "student" / "eval.jsonl").read_text().splitlines()
    assert len(log) == 2 and '"dev_mrr@10"' in log[0]


def test_train_upper_changes_the_head_too(tiny_model_dir, bitext, tmp_path):
    distiller = OpticalDistiller(str(tiny_model_dir), DistillConfig(align_layer="last", freeze_upper=False),
                                 training(steps=4))
    distiller.fit(bitext, tmp_path / "s")
    student = load_file(str(tmp_path / "s" / "model.safetensors"))
    teacher = load_file(str(tiny_model_dir / "model.safetensors"))
    assert not torch.equal(student["bert.encoder.layer.3.output.dense.weight"],
                           teacher["bert.encoder.layer.3.output.dense.weight"])


def test_bad_settings(tiny_model_dir, bitext):
    with pytest.raises(ValueError, match=r"align_layer must be 'embeddings', 'last' or 0..4"):
        OpticalDistiller(str(tiny_model_dir), DistillConfig(align_layer=9))
    distiller = OpticalDistiller(str(tiny_model_dir), DistillConfig(align_layer="embeddings"), training(steps=1))
    with pytest.raises(ValueError, match="no bitext pairs"):
        distiller.fit([], "unused")


def test_different_tokenizers_are_refused(tiny_model_dir):
    from transformers import AutoTokenizer

    other = build_tiny_tokenizer(["completely different text"] * 10 + [en for en, _ in load_bitext("de", "train")[:50]])
    with pytest.raises(ValueError, match="different tokenizers"):
        check_same_tokenizer(AutoTokenizer.from_pretrained(tiny_model_dir), other)


def test_two_processes_with_torchrun(tiny_model_dir, bitext, tmp_path):
    """Scale-out goes through torch.distributed (gloo on CPU) and Accelerate: 2 local processes here."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{en}\t{x}\n" for en, x in bitext), encoding="utf-8")
    from pyterrier_optical.util.device import auto_precision

    precision = auto_precision("cpu")  # bf16 where the CPU has bf16 units: the setting survives the launch
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node", "2", "-m", "pyterrier_optical.cli", "distill", "--teacher",
           str(tiny_model_dir), "--bitext", str(pairs), "--out", str(tmp_path / "ddp"), "--steps", "3",
           "--batch-size", "8", "--align-layer", "2", "--device", "cpu", "--quiet", "--precision", precision]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}  # torchrun's log folders land in tmp_path
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.loads((tmp_path / "ddp" / "pt_meta.json").read_text())
    assert meta["processes"] == 2 and meta["steps"] == 3 and meta["precision"] == precision
    assert len(OpticalReranker(str(tmp_path / "ddp"), verbose=False).score(["a"], ["b"])) == 1


def test_every_torchrun_rank_writes_whole_model_folders(tiny_model_dir, tmp_path):
    """A per-machine cache (the converted backbone, an assembled shipped model) is written by whichever rank takes
    its lock first: rank 1's folder holds the config and the weights too (transformers' ``save_pretrained`` writes
    them on rank 0 only once torch.distributed is up)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "write.py"
    script.write_text(
        "import sys, torch.distributed as dist\n"
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer\n"
        "from pyterrier_optical.models.checkpoint import write_checkpoint\n"
        "dist.init_process_group('gloo')\n"
        "model = AutoModelForSequenceClassification.from_pretrained(sys.argv[1])\n"
        "write_checkpoint(model, AutoTokenizer.from_pretrained(sys.argv[1]), f'{sys.argv[2]}/rank{dist.get_rank()}')\n"
        "dist.destroy_process_group()\n")
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}
    done = subprocess.run([str(torchrun), "--nproc_per_node", "2", str(script), str(tiny_model_dir), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = load_file(tiny_model_dir / "model.safetensors")
    for rank in (0, 1):
        written = OpticalReranker(str(tmp_path / f"rank{rank}"), verbose=False)  # a checked, complete folder
        assert written.score(["a"], ["b"]).shape == (1,)
        weights = load_file(tmp_path / f"rank{rank}" / "model.safetensors")
        assert weights.keys() == expected.keys() and all(torch.equal(weights[k], expected[k]) for k in expected)


def test_score_distillation_moves_student_scores_toward_the_teacher(tiny_model_dir, bitext, tmp_path):
    config = DistillConfig(align_layer="last", ot_weight=0.0, score_weight=1.0, score_candidates=4,
                           freeze_upper=False)
    distiller = OpticalDistiller(str(tiny_model_dir), config, training(steps=30, lr=1e-3))
    # sharpen both heads so that scores spread, and push the student's first block away from the teacher's
    torch.manual_seed(0)
    with torch.no_grad():
        for model in (distiller.teacher, distiller.student):
            model.classifier.weight.mul_(200)
        for p in distiller.student.bert.encoder.layer[0].parameters():
            p.add_(0.5 * torch.randn_like(p))
    pools = distiller.candidates(bitext)
    with torch.no_grad():
        before = distiller._score_distillation(distiller.student, [e for e, _ in bitext], [o for _, o in bitext],
                                               pools, "cpu")
    distiller.fit(bitext, tmp_path / "s")
    with torch.no_grad():
        after = distiller._score_distillation(distiller.student, [e for e, _ in bitext], [o for _, o in bitext],
                                              pools, "cpu")
    assert after < before * 0.7
    with pytest.raises(ValueError, match="need candidate documents"):
        distiller.loss(distiller.student, bitext[:2], "cpu")


class FirstCandidateTarget(OpticalDistiller):
    """A second-teacher stand-in: its target puts the mass on each pair's own English; it records what it is given."""

    calls = []

    def score_target(self, teacher_log_probs, other, candidates):
        FirstCandidateTarget.calls.append((teacher_log_probs, list(other), candidates))
        logits = torch.zeros_like(teacher_log_probs)
        logits[:, 0] = 30.0
        return torch.log_softmax(logits, -1)


def test_a_subclass_score_target_replaces_the_teachers(tiny_model_dir, bitext, tmp_path):
    config = DistillConfig(align_layer="last", ot_weight=0.0, score_weight=1.0, score_candidates=4)
    english, other = [e for e, _ in bitext[:8]], [o for _, o in bitext[:8]]
    plain, first = OpticalDistiller(str(tiny_model_dir), config), FirstCandidateTarget(str(tiny_model_dir), config)
    with torch.no_grad():
        pools = plain.candidates(bitext[:8])
        teacher_kl = float(plain._score_distillation(plain.student, english, other, pools, "cpu"))
        first_kl = float(first._score_distillation(first.student, english, other, pools, "cpu"))
    log_probs, seen_other, seen_pools = FirstCandidateTarget.calls[-1]
    assert seen_other == other and seen_pools == pools and log_probs.shape == (8, 4)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(8))
    assert teacher_kl < 1e-4 and first_kl > 0.5  # the student starts as the teacher: only the new target is far
    FirstCandidateTarget.calls.clear()
    recipe = StudentRecipe(config, training(steps=2, checkpoint_every=2))
    distill_student(tiny_model_dir, tmp_path / "s", recipe, bitext=bitext[:16], dev_bitext=[], verbose=False,
                    distiller=FirstCandidateTarget)
    assert len(FirstCandidateTarget.calls) == 2  # distill_student trains with the given class


def test_me5_as_second_teacher_mixes_its_softmax_into_the_target(tiny_model_dir, bitext):
    """The target is (1 - w) the teacher's softmax + w mE5's over the same candidates, mE5 reading the other side."""
    from pyterrier_optical.retrieve.dense import E5Encoder

    other = [o for _, o in bitext[:4]]
    config = DistillConfig(align_layer="last", ot_weight=0.0, score_candidates=4, dense_teacher_weight=1.0)
    distiller = OpticalDistiller(str(tiny_model_dir), config)
    pools = distiller.candidates(bitext[:4])
    cosine = torch.from_numpy(E5Encoder().score([q for q in other for _ in range(4)], sum(pools, []))).view(4, 4)
    dense = torch.softmax(cosine.float() / 0.01, -1)
    teacher = torch.log_softmax(torch.randn(4, 4, generator=torch.Generator().manual_seed(0)), -1)
    assert torch.allclose(distiller.score_target(teacher, other, pools).exp(), dense, atol=1e-4)
    distiller.config = dataclasses.replace(config, dense_teacher_weight=0.25)
    mixed = distiller.score_target(teacher, other, pools).exp()
    assert torch.allclose(mixed, 0.75 * teacher.exp() + 0.25 * dense, atol=1e-4)
    assert torch.allclose(mixed.sum(-1), torch.ones(4))
    assert (dense.argmax(-1) == 0).float().mean() >= 0.75  # mE5 finds the translation among its own neighbours
    plain = OpticalDistiller(str(tiny_model_dir), DistillConfig(align_layer="last", score_candidates=4))
    assert plain.dense_teacher is None and plain.score_target(teacher, other, pools) is teacher


def test_the_second_teacher_changes_the_fingerprint_only_when_it_is_used():
    from pyterrier_optical.models.recipes import CODESWITCH_STUDENT, STUDENT, recipe_fingerprint

    def with_distillation(recipe, **changes):
        return dataclasses.replace(recipe, distillation=dataclasses.replace(recipe.distillation, **changes))

    unused = with_distillation(CODESWITCH_STUDENT, dense_teacher_temperature=0.05)
    assert recipe_fingerprint(unused) == recipe_fingerprint(CODESWITCH_STUDENT)  # no effect, same recipe
    assert recipe_fingerprint(with_distillation(STUDENT, dense_teacher_temperature=0.05)) != recipe_fingerprint(
        STUDENT)
    assert recipe_fingerprint(with_distillation(STUDENT, dense_teacher_weight=0.0)) != recipe_fingerprint(STUDENT)


def score_distiller(tiny_model_dir, **training_overrides):
    config = DistillConfig(align_layer="last", ot_weight=0.0, score_weight=1.0, score_candidates=4,
                           freeze_upper=False)
    return OpticalDistiller(str(tiny_model_dir), config, training(**training_overrides))


def test_best_dev_checkpoint_is_the_output(tiny_model_dir, bitext, tmp_path):
    from pyterrier_optical.models.checkpoint import read_metadata
    from pyterrier_optical.train.selection import read_eval_log

    out = tmp_path / "s"
    score_distiller(tiny_model_dir, steps=6, lr=3e-2, checkpoint_every=2).fit(
        bitext, out, dev_bitext=load_bitext("sw", "dev")[:30], eval_every=2)
    records = read_eval_log(out)
    assert [r["step"] for r in records] == [0, 2, 4, 6]
    best = max(records, key=lambda r: r["dev_mrr@10"])  # the first of equals
    meta = read_metadata(out)
    assert meta["selected_step"] == best["step"] and meta["selected_dev_mrr"] == best["dev_mrr@10"]
    final, kept = load_file(str(out / "model.safetensors")), load_file(str(out / "best" / "model.safetensors"))
    assert all(torch.equal(final[k], kept[k]) for k in kept)


def test_the_last_curve_point_is_of_the_last_step_not_of_the_selected_one(tiny_model_dir, bitext, tmp_path,
                                                                          monkeypatch):
    """Reliability: the dev selection loads the best step's weights at the end; the learning curve's last point
    was computed after it, so it showed the selected step's model under the last step's number."""
    import json
    from functools import partial

    from pyterrier_optical import E5Encoder
    from pyterrier_optical.models.checkpoint import read_metadata, weights_digest
    from pyterrier_optical.models.cross_encoder import load_cross_encoder
    from pyterrier_optical.train import distill
    from pyterrier_optical.train.curve import CURVE_LOG, LearningCurve

    # the real curve, on a tiny encoder and two languages (the default encodes the Kolibri dev splits with mE5)
    monkeypatch.setattr(distill, "LearningCurve", partial(LearningCurve, max_queries=8, languages=("sw", "de"),
                                                          encoder=E5Encoder(str(tiny_model_dir), precision="fp32")))
    out = tmp_path / "s"
    score_distiller(tiny_model_dir, steps=6, lr=3e-2, checkpoint_every=2).fit(
        bitext, out, dev_bitext=load_bitext("sw", "dev")[:30], eval_every=2, curve_every=2)
    digests = {r["step"]: r["weights"] for r in map(json.loads, (out / CURVE_LOG).read_text().splitlines())}
    assert sorted(digests) == [0, 2, 4, 6] and len(set(digests.values())) == 4  # four different models
    selected = read_metadata(out)["selected_step"]
    output, _, _ = load_cross_encoder(out, "cpu")
    assert digests[selected] == weights_digest(output)


def test_no_better_student_keeps_the_teacher(tiny_model_dir, bitext, tmp_path):
    """With a learning rate of 0 no checkpoint beats step 0 (ties go to the earlier step): the teacher is the output."""
    from pyterrier_optical.models.checkpoint import read_metadata

    out = tmp_path / "s"
    score_distiller(tiny_model_dir, steps=4, lr=0.0, checkpoint_every=2).fit(
        bitext, out, dev_bitext=load_bitext("sw", "dev")[:30], eval_every=2)
    assert read_metadata(out)["selected_step"] == 0
    final, teacher = load_file(str(out / "model.safetensors")), load_file(str(tiny_model_dir / "model.safetensors"))
    assert all(torch.equal(final[k], teacher[k]) for k in teacher)


def test_dev_sharing_training_strings_is_refused(bitext):
    with pytest.raises(ValueError, match="3 of 5 dev pairs share their English string"):
        check_disjoint(bitext, bitext[:3] + load_bitext("sw", "dev")[:2])


def test_pair_context_masks_only_the_query_tokens(tiny_model_dir, bitext):
    distiller = OpticalDistiller(str(tiny_model_dir), DistillConfig(align_layer=2, pair_context=True))
    tok = distiller.tokenizer
    queries, docs = [o for _, o in bitext[:4]], [e for e, _ in bitext[4:8]]
    states, mask = token_states(distiller.student, tok, queries, 2, 64, "cpu", context=docs)
    alone = [len(tok(q, add_special_tokens=False)["input_ids"][:64]) for q in queries]
    assert mask.sum(1).tolist() == alone and states.shape[:2] == mask.shape
    assert not mask[:, 0].any()  # [CLS] is not a query token
    with pytest.raises(ValueError, match="need candidate documents"):
        distiller.loss(distiller.student, bitext[:2], "cpu")
    candidates = [[e, d] for (e, _), d in zip(bitext[:4], docs)]
    loss, parts = distiller.loss(distiller.student, bitext[:4], "cpu", candidates)
    assert torch.isfinite(loss) and "ot" in parts


def test_sweep_skips_finished_runs(tiny_model_dir, bitext, tmp_path):
    from pyterrier_optical.train.sweep import distillation_sweep

    variants = {"ot": {"score_weight": 0.0}, "score": {"ot_weight": 0.0, "score_candidates": 3}}
    dev = load_bitext("sw", "dev")[:12]
    table = distillation_sweep(str(tiny_model_dir), variants, bitext, dev, tmp_path, training(steps=2),
                               DistillConfig(align_layer=2))
    from pyterrier_optical.train.selection import read_eval_log

    assert sorted(table["run"]) == ["ot", "score"] and (table["steps"] == 2).all()
    assert table.set_index("run").loc["score", "score_weight"] == 1.0
    for row in table.itertuples():  # the table says what each run's log says
        log = {r["step"]: r["dev_mrr@10"] for r in read_eval_log(tmp_path / row.run)}
        assert sorted(log) == [0, 2] and (row.teacher, row.last) == (log[0], log[2])
        assert row.best == max(log.values()) and row.selected_step == min(s for s in log if log[s] == row.best)
    stamp = (tmp_path / "ot" / "model.safetensors").stat().st_mtime_ns
    (tmp_path / "score" / "pt_meta.json").unlink()  # an unfinished run is redone (it resumes), a finished one not
    again = distillation_sweep(str(tiny_model_dir), variants, bitext, dev, tmp_path, training(steps=2),
                               DistillConfig(align_layer=2))
    assert (tmp_path / "ot" / "model.safetensors").stat().st_mtime_ns == stamp and len(again) == 2
    assert (tmp_path / "score" / "pt_meta.json").exists()


def test_learning_curves_log_alone_fused_and_me5_per_language(tiny_model_dir, tmp_path):
    import json
    from types import SimpleNamespace

    import numpy as np
    import torch

    from pyterrier_optical import E5Encoder
    from pyterrier_optical.models.cross_encoder import load_cross_encoder
    from pyterrier_optical.train.curve import CURVE_LOG, LearningCurve, read_curve, reciprocal_ranks, row_minmax

    scores = np.array([[0.1, 0.9, 0.5], [3.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    assert reciprocal_ranks(scores, np.array([1, 2, -1])).tolist() == [1.0, 0.5, 0.0]
    assert row_minmax(scores)[1].tolist() == [1.0, 0.0, 0.5] and row_minmax(scores)[2].tolist() == [0.0, 0.0, 0.0]
    model, tokenizer, _ = load_cross_encoder(tiny_model_dir, "cpu")
    curve = LearningCurve(tokenizer, every=2, depth=5, max_queries=8, languages=("sw", "yo", "de"),
                          encoder=E5Encoder(str(tiny_model_dir), precision="fp32"))
    trainer = SimpleNamespace(unwrapped=lambda: model, precision="fp32", out=tmp_path, step=3,
                              accelerator=SimpleNamespace(device=torch.device("cpu")))
    for step in range(3):
        curve.before_step(trainer, step)
    curve.after_training(trainer)
    curve.after_training(trainer)  # logged once
    records = [json.loads(line) for line in (tmp_path / CURVE_LOG).read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 2, 3]
    for r in records:
        assert set(r["alone"]) == set(r["fused"]) == {"sw", "yo", "de"}
        assert r["low_alone"] == pytest.approx((r["alone"]["sw"] + r["alone"]["yo"]) / 2)
        assert r["high_mE5"] == r["mE5"]["de"] and 0 <= r["low_fused"] <= 1
    curve.logged = None  # as a resumed run's new process: the steps logged are read back, not scored again
    curve.before_step(trainer, 2)
    assert read_curve(tmp_path) == records and read_curve(tmp_path / "no run") == []
