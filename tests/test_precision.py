"""Mixed precision: the choice per hardware, reduced-precision scoring against float32, autocast entered per training
step with the OT and the softmaxes in float32, the precision recorded and resumed across. Tests needing bf16 units
are skipped on a CPU without them (which then runs everything in float32)."""
import json
import logging

import numpy as np
import ot as pot
import pytest
import torch

from pyterrier_optical import OpticalReranker
from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.models.checkpoint import read_metadata
from pyterrier_optical.models.recipes import DistillConfig, TeacherRecipe, TrainingConfig
from pyterrier_optical.train.distill import OpticalDistiller
from pyterrier_optical.train.loop import Callback, Trainer
from pyterrier_optical.train.ot import cosine_cost, mask_marginals, ot_alignment_loss
from pyterrier_optical.train.teacher import english_task, train_teacher
from pyterrier_optical.util import device as devices
from pyterrier_optical.util.device import bf16_supported, resolve_precision

from conftest import build_tiny_cross_encoder
from test_ot import problem

needs_bf16 = pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no bf16 units (amx_bf16/avx512_bf16)")


@pytest.fixture()
def no_bf16_cpu(monkeypatch):
    """A CPU whose torch capabilities report no bf16 instructions."""
    capabilities = {**torch.cpu.get_capabilities(), "amx_bf16": False, "avx512_bf16": False}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)


def test_unknown_precision_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown precision 'bf32'; choose from auto, fp32, bf16, fp16"):
        resolve_precision("bf32", "cpu")
    with pytest.raises(ValueError, match="unknown precision"):
        TrainingConfig(precision="half")


def test_auto_follows_what_torch_reports(no_bf16_cpu):
    assert resolve_precision("auto", "cpu") == "fp32"
    with pytest.raises(ValueError, match="'bf16' was asked for, but the cpu device here does not support it; "
                                         "precision='auto' would pick 'fp32'"):
        resolve_precision("bf16", "cpu")


@pytest.mark.parametrize("amx, avx512, kind", [(True, True, "bf16"), (False, True, "bf16-avx512"),
                                                (False, False, "fp32")])
def test_build_estimates_follow_the_matrix_units_torch_reports(monkeypatch, amx, avx512, kind):
    from pyterrier_optical.models.registry import EMBEDDED

    capabilities = {**torch.cpu.get_capabilities(), "amx_bf16": amx, "avx512_bf16": avx512}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert devices.speed_class(resolve_precision("auto", "cpu"), "cpu") == kind
    for model in EMBEDDED.values():
        assert set(model.minutes) == {"fp32", "bf16", "bf16-avx512"}
        assert model.build_minutes == model.minutes[kind]


def test_fp16_is_refused_on_a_cpu_naming_what_auto_picks():
    with pytest.raises(ValueError, match=f"'fp16' was asked for.*would pick '{devices.auto_precision('cpu')}'"):
        OpticalReranker("unused", precision="fp16")  # refused before any model is loaded


def test_a_cpu_without_bf16_scores_in_fp32(no_bf16_cpu, tiny_model_dir):
    reranker = OpticalReranker(str(tiny_model_dir), verbose=False)
    assert reranker.precision == "auto" and reranker.precision_ == "fp32"


@needs_bf16
def test_bf16_scores_follow_fp32(tiny_model_dir):
    queries = ["privacy settings"] * 6 + ["mipangilio ya faragha"] * 6
    texts = [en for en, _ in load_bitext("sw", "test")[:12]]
    fp32 = OpticalReranker(str(tiny_model_dir), verbose=False, precision="fp32").score(queries, texts)
    bf16 = OpticalReranker(str(tiny_model_dir), verbose=False, precision="bf16").score(queries, texts)
    assert bf16.dtype == np.float32 and not np.array_equal(fp32, bf16)  # it did run in reduced precision
    np.testing.assert_allclose(bf16, fp32, atol=0.05)
    assert OpticalReranker(str(tiny_model_dir), verbose=False).precision_ == "bf16"  # auto, here


def test_sinkhorn_on_bf16_states_matches_pot():
    """States from a bf16 forward, transported inside an autocast region: the plan still matches POT's on the same
    (bf16-rounded) states, to the float32 tolerance of the OT tests."""
    x, y, mx, my = problem()
    x, y = x.to(torch.bfloat16), y.to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, transport, _ = ot_alignment_loss(x, y, mx, my, epsilon=0.05, normalise_cost=False, max_iter=5000,
                                               tol=1e-9)
    assert transport.plan.dtype == torch.float32 and torch.isfinite(loss)
    cost = cosine_cost(x.float(), y.float())
    a, b = mask_marginals(mx), mask_marginals(my)
    for i in range(len(cost)):
        ci = cost[i][mx[i]][:, my[i]].double().numpy()
        # stopThr 1e-7: the float32 marginals' sums differ by ~1e-8 in float64, below which POT cannot get
        reference = pot.sinkhorn(a[i][mx[i]].double().numpy(), b[i][my[i]].double().numpy(), ci, 0.05,
                                 method="sinkhorn_log", numItermax=20_000, stopThr=1e-7)
        np.testing.assert_allclose(transport.plan[i][mx[i]][:, my[i]].numpy(), reference, atol=1e-5)


class AutocastOffBetweenSteps(Callback):
    """Fails the run if an autocast region outlives a step (a cast cache of stale weights collapses training)."""

    def __init__(self):
        self.seen = 0

    def before_step(self, trainer, step):
        assert not torch.is_autocast_enabled("cpu"), f"autocast still on before step {step}"
        self.seen += 1


def teacher_losses(tok, examples, tmp_path, precision, steps=60):
    # 2e-3, not the fp32 test's 3e-3: in bf16 this tiny model collapses to constant scores (loss ln 4) at 3e-3 for
    # 2 of 8 seeds, and on some CPU kinds for seed 1; at 2e-3 all 8 seeds learn on three oneDNN/ATen paths
    config = TrainingConfig(steps=steps, batch_size=8, lr=2e-3, head_lr=2e-3, checkpoint_every=1000, device="cpu",
                            verbose=False, precision=precision)
    out = train_teacher(examples, tmp_path / precision, TeacherRecipe(config, max_length=64, negatives=3),
                        build_tiny_cross_encoder(tok, seed=1), tok)
    return json.loads((tmp_path / precision / "losses.json").read_text()), read_metadata(out)


@needs_bf16
def test_bf16_training_learns_like_fp32_with_autocast_per_step(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = english_task([en for en, _ in load_bitext("sw", "train")[:400]], num_negatives=3, verbose=False)[:16]
    from pyterrier_optical.models.cross_encoder import load_cross_encoder
    from pyterrier_optical.train.teacher import listwise_loss

    with torch.no_grad():
        before = float(listwise_loss(build_tiny_cross_encoder(tok, seed=1), tok, examples, 3, 64, "cpu"))
    bf16, meta = teacher_losses(tok, examples, tmp_path, "bf16")
    with torch.no_grad():
        after = float(listwise_loss(load_cross_encoder(tmp_path / "bf16")[0], tok, examples, 3, 64, "cpu"))
    assert np.isfinite(bf16).all()
    assert after < before - 0.3  # it learns as the fp32 teacher test does (a stale cast cache would stall it)
    assert meta["precision"] == "bf16" and meta["training"]["precision"] == "bf16"
    # the Trainer leaves autocast after every step
    trainer = Trainer(build_tiny_cross_encoder(tok), tok, tmp_path / "probe",
                      TrainingConfig(steps=3, batch_size=2, device="cpu", verbose=False, precision="bf16"))
    check = AutocastOffBetweenSteps()
    trainer.run(lambda step, rank, world: trainer.model.classifier.weight.sum() ** 2, [check])
    assert check.seen == 3


@needs_bf16
def test_bf16_distillation_keeps_finite_losses_and_resumes_from_fp32(tiny_model_dir, tmp_path, caplog):
    bitext = load_bitext("sw", "train")[:32]
    config = DistillConfig(align_layer=2, score_candidates=4)

    def distiller(precision, steps):
        return OpticalDistiller(str(tiny_model_dir), config, TrainingConfig(
            steps=steps, batch_size=8, lr=1e-3, head_lr=None, checkpoint_every=2, device="cpu", verbose=False,
            precision=precision))

    with pytest.raises(KeyboardInterrupt):  # an fp32 run interrupted after its checkpoint at step 2
        d = distiller("fp32", 4)
        real = d.loss

        def interrupt(student, pairs, device, candidates=None, calls=[0]):
            calls[0] += 1
            if calls[0] == 3:
                raise KeyboardInterrupt
            return real(student, pairs, device, candidates)

        d.loss = interrupt
        d.fit(bitext, tmp_path / "s")
    with caplog.at_level(logging.WARNING):
        distiller("bf16", 4).fit(bitext, tmp_path / "s")
    assert "was saved at precision fp32; it goes on at bf16 from step 2" in caplog.text
    meta = read_metadata(tmp_path / "s")
    assert meta["precision"] == "bf16" and meta["steps"] == 4
    assert np.isfinite(json.loads((tmp_path / "s" / "losses.json").read_text())).all()
