
import numpy as np
import ot as pot
import pytest
import torch

from pyterrier_optical.train.ot import cosine_cost, mask_marginals, ot_alignment_loss, plan_entropy, sinkhorn


def problem(B=6, n=9, m=13, d=8, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(B, n, d, generator=g, dtype=dtype), torch.randn(B, m, d, generator=g, dtype=dtype)
    mask_x = torch.ones(B, n, dtype=torch.bool)
    mask_y = torch.ones(B, m, dtype=torch.bool)
    for i in range(B):  # ragged lengths, as padding makes them
        mask_x[i, n - i:] = False
        mask_y[i, m - 2 * i:] = False
    return x, y, mask_x, mask_y


@pytest.mark.parametrize("epsilon", [0.01, 0.05, 0.1])
def test_matches_pot_sinkhorn_on_real_tokens(epsilon):
    x, y, mx, my = problem()
    cost = cosine_cost(x, y).double()
    a, b = mask_marginals(mx, dtype=torch.float64), mask_marginals(my, dtype=torch.float64)
    result = sinkhorn(cost, a, b, epsilon, max_iter=20_000, tol=1e-10)
    for i in range(len(cost)):
        ai, bi = a[i][mx[i]].numpy(), b[i][my[i]].numpy()
        ci = cost[i][mx[i]][:, my[i]].numpy()
        reference = pot.sinkhorn(ai, bi, ci, epsilon, method="sinkhorn_log", numItermax=20_000, stopThr=1e-11)
        ours = result.plan[i][mx[i]][:, my[i]].numpy()
        np.testing.assert_allclose(ours, reference, atol=1e-5)
        assert result.cost[i].item() == pytest.approx((reference * ci).sum(), abs=1e-5)
        # padding receives nothing
        assert result.plan[i][~mx[i]].abs().max().item() == 0 if (~mx[i]).any() else True
    np.testing.assert_allclose(result.plan.sum(-1).numpy(), a.numpy(), atol=1e-5)
    np.testing.assert_allclose(result.plan.sum(-2).numpy(), b.numpy(), atol=1e-5)


def test_matches_pot_solve_batch_float32():
    x, y, _, _ = problem(B=8, n=16, m=24)
    cost = cosine_cost(x, y)
    a = torch.full((8, 16), 1 / 16)
    b = torch.full((8, 24), 1 / 24)
    ours = sinkhorn(cost, a, b, 0.05, max_iter=2000, tol=1e-7)
    ref = pot.solve_batch(cost, 0.05, a, b, method="log_sinkhorn", max_iter=10_000, tol=1e-9)
    np.testing.assert_allclose(ours.plan.numpy(), ref.plan.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours.cost.numpy(), (ref.plan * cost).sum((1, 2)).numpy(), atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_stable_at_small_epsilon_and_low_precision(dtype):
    x, y, mx, my = problem(B=4, n=32, m=48, d=16, seed=3)
    cost = (cosine_cost(x, y) * 1.0).to(dtype)  # costs in [0, 2]
    result = sinkhorn(cost, mask_marginals(mx).to(dtype), mask_marginals(my).to(dtype), 0.01, max_iter=2000,
                      tol=1e-5)
    assert result.plan.dtype == torch.float32
    assert torch.isfinite(result.plan).all() and torch.isfinite(result.cost).all()
    np.testing.assert_allclose(result.plan.sum(-1).numpy(), mask_marginals(mx).numpy(), atol=1e-4)


def test_empty_problem_gives_zero_with_a_warning():
    x, y, mx, my = problem(B=3)
    my[1] = False
    with pytest.warns(RuntimeWarning, match="1 transport problem"):
        result = sinkhorn(cosine_cost(x, y), mask_marginals(mx), mask_marginals(my))
    assert result.empty.tolist() == [False, True, False]
    assert result.cost[1].item() == 0 and result.plan[1].abs().sum().item() == 0
    assert torch.isfinite(result.plan).all()
    with pytest.warns(RuntimeWarning):
        loss, _, _ = ot_alignment_loss(x, y, mx, my)
    assert torch.isfinite(loss)


def test_non_convergence_warns():
    x, y, mx, my = problem()
    with pytest.warns(RuntimeWarning, match="did not converge"):
        sinkhorn(cosine_cost(x, y), mask_marginals(mx), mask_marginals(my), 0.01, max_iter=3, tol=1e-12)


def test_autodiff_gradient_is_right():
    x, y, mx, my = problem(B=2, n=4, m=5, d=3, dtype=torch.float64)
    a, b = mask_marginals(mx).double(), mask_marginals(my).double()
    cost = cosine_cost(x, y).double().requires_grad_(True)

    def value(c):
        return sinkhorn(c, a, b, 0.5, max_iter=300, tol=1e-14, grad="autodiff").cost

    assert torch.autograd.gradcheck(value, (cost,), eps=1e-6, atol=1e-5)


def test_envelope_gradient_is_the_plan():
    x, y, mx, my = problem(B=2, n=4, m=5, d=3, dtype=torch.float64)
    states = x.clone().requires_grad_(True)
    loss, transport, _ = ot_alignment_loss(states, y, mx, my, epsilon=0.1, normalise_cost=False, tol=1e-12,
                                           max_iter=1000)
    loss.backward()
    # d loss / d states through C only: compare with autograd of <P.detach(), C>
    states2 = x.clone().requires_grad_(True)
    expected = (transport.plan.detach() * cosine_cost(states2, y).double()).sum((1, 2)).mean()
    expected.backward()
    np.testing.assert_allclose(states.grad.numpy(), states2.grad.numpy(), atol=1e-10)


def test_idf_weights_and_entropy():
    x, y, mx, my = problem(B=2)
    w = torch.rand(2, x.shape[1]) + 0.1
    a = mask_marginals(mx, w)
    assert torch.allclose(a.sum(-1), torch.ones(2)) and (a[~mx] == 0).all()
    sharp = sinkhorn(cosine_cost(x, y), a, mask_marginals(my), 0.01, max_iter=2000, tol=1e-6)
    blurred = sinkhorn(cosine_cost(x, y), a, mask_marginals(my), 10.0)
    e_sharp = plan_entropy(sharp.plan, a, mask_marginals(my))
    e_blur = plan_entropy(blurred.plan, a, mask_marginals(my))
    assert (e_sharp < e_blur).all() and (e_blur > 0.95).all()


def test_bad_arguments():
    x, y, mx, my = problem()
    c = cosine_cost(x, y)
    with pytest.raises(ValueError, match="shapes"):
        sinkhorn(c, mask_marginals(my), mask_marginals(mx))
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn(c, mask_marginals(mx), mask_marginals(my), epsilon=0)
    with pytest.raises(ValueError, match="grad"):
        sinkhorn(c, mask_marginals(mx), mask_marginals(my), grad="implicit")
