"""Batched, masked, log-domain Sinkhorn for entropic optimal transport between token states.

Each problem ``b`` in a batch moves mass ``a[b]`` (over the n teacher tokens) onto ``b[b]`` (over the m student
tokens) at cost ``C[b]``; padding and special tokens carry zero mass and so receive no transport. The solver runs in
float32 (or float64) whatever the input precision, in the log domain, so it stays finite for epsilon down to 0.01
with costs in [0, 2].

References:
    Huang, Yu, Allan. Improving Cross-lingual Information Retrieval on Low-Resource Languages via Optimal
    Transport Distillation. WSDM 2023.
    Cuturi. Sinkhorn Distances: Lightspeed Computation of Optimal Transport. NeurIPS 2013.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch


@dataclass
class Transport:
    """A solved batch: ``plan`` (B, n, m), ``cost`` = <plan, C> (B,), and solver diagnostics."""

    plan: torch.Tensor
    cost: torch.Tensor
    iterations: int
    marginal_error: float
    empty: torch.Tensor  # (B,) problems without mass on one side: zero plan and cost


def cosine_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``1 - cos(x_i, y_j)`` for token states x (B, n, d) and y (B, m, d), in [0, 2]."""
    x = torch.nn.functional.normalize(x.float(), dim=-1)
    y = torch.nn.functional.normalize(y.float(), dim=-1)
    return 1.0 - x @ y.transpose(1, 2)


def mask_marginals(mask: torch.Tensor, weights: torch.Tensor | None = None, dtype=torch.float32) -> torch.Tensor:
    """Marginals (B, n) uniform over real tokens (``mask`` true), or proportional to ``weights`` (e.g. idf) there.

    A row with no real token gets all zeros.
    """
    mass = mask.to(dtype) if weights is None else weights.to(dtype).clamp_min(0) * mask.to(dtype)
    total = mass.sum(-1, keepdim=True)
    return torch.where(total > 0, mass / total.clamp_min(torch.finfo(mass.dtype).tiny), torch.zeros_like(mass))


def sinkhorn(cost: torch.Tensor, a: torch.Tensor, b: torch.Tensor, epsilon: float = 0.05, max_iter: int = 200,
             tol: float = 1e-6, grad: str = "envelope", check_every: int = 10, warn: bool = True) -> Transport:
    """Entropic OT ``argmin_P <P, C> - epsilon H(P)`` s.t. ``P 1 = a``, ``P^T 1 = b``, for a batch of problems.

    Args:
        cost: (B, n, m) costs.
        a: (B, n) source marginals; zeros mask tokens out. Rows summing to 0 are empty problems.
        b: (B, m) target marginals; same conventions. Each row of a and b is normalised to sum to 1.
        epsilon: entropic regularisation, in the units of ``cost``.
        max_iter: maximum Sinkhorn iterations.
        tol: stop once the largest violation of the row marginals is below ``tol`` (checked every
            ``check_every`` iterations); a warning says when ``max_iter`` was reached first.
        grad: ``"envelope"`` (default) differentiates ``<P*, C>`` with the plan detached, cheap and stable;
            ``"autodiff"`` backpropagates through the iterations.
        warn: warn when ``max_iter`` is reached before ``tol`` (the error is in the result either way).

    Empty problems (no real token on one side) get a zero plan and a zero cost, with a warning, never NaN.
    """
    if grad not in ("envelope", "autodiff"):
        raise ValueError(f"grad must be 'envelope' or 'autodiff', got {grad!r}")
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    if cost.dim() != 3 or a.shape != cost.shape[:2] or b.shape != (cost.shape[0], cost.shape[2]):
        raise ValueError(f"shapes do not match: cost {tuple(cost.shape)}, a {tuple(a.shape)}, b {tuple(b.shape)}")
    dtype = torch.float64 if cost.dtype == torch.float64 else torch.float32
    cost, a, b = cost.to(dtype), a.to(dtype), b.to(dtype)
    empty = (a.sum(-1) <= 0) | (b.sum(-1) <= 0)
    if empty.any():
        warnings.warn(f"{int(empty.sum())} transport problem(s) have no real token on one side: zero plan and cost",
                      RuntimeWarning, stacklevel=2)
        a = torch.where(empty[:, None], torch.ones_like(a), a)
        b = torch.where(empty[:, None], torch.ones_like(b), b)
    a = a / a.sum(-1, keepdim=True)
    b = b / b.sum(-1, keepdim=True)
    with torch.set_grad_enabled(grad == "autodiff" and torch.is_grad_enabled()):
        log_plan, iterations, error = _log_sinkhorn(cost, a, b, epsilon, max_iter, tol, check_every, warn)
        plan = log_plan.exp()
    plan = torch.where(empty[:, None, None], torch.zeros_like(plan), plan)
    return Transport(plan, (plan * cost).sum((1, 2)), iterations, error, empty)


def _log_sinkhorn(cost, a, b, epsilon, max_iter, tol, check_every, warn):
    """Log-domain iterations on the potentials; returns log P, the iterations run, and the last marginal error."""
    neg_inf = torch.finfo(cost.dtype).min
    log_a = torch.where(a > 0, a.log(), torch.full_like(a, neg_inf))
    log_b = torch.where(b > 0, b.log(), torch.full_like(b, neg_inf))
    scaled = -cost / epsilon
    f = torch.zeros_like(a)
    g = torch.zeros_like(b)
    error, iterations = float("inf"), 0
    for iterations in range(1, max_iter + 1):
        f = log_a - torch.logsumexp(scaled + g[:, None, :], dim=2)
        g = log_b - torch.logsumexp(scaled + f[:, :, None], dim=1)
        if iterations % check_every == 0 or iterations == max_iter:
            with torch.no_grad():
                rows = torch.logsumexp(scaled + f[:, :, None] + g[:, None, :], dim=2).exp()
                error = float((rows - a).abs().max())
            if error < tol:
                break
    else:
        if warn:
            warnings.warn(f"Sinkhorn did not converge in {max_iter} iterations (marginal error {error:.2e} > tol "
                          f"{tol}); raise max_iter or epsilon", RuntimeWarning, stacklevel=3)
    log_plan = scaled + f[:, :, None] + g[:, None, :]
    return torch.where((a[:, :, None] > 0) & (b[:, None, :] > 0), log_plan, torch.full_like(log_plan, neg_inf)), \
        iterations, error


def plan_entropy(plan: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean normalised row entropy of each plan (B,): 1 is a uniform plan, 0 a one-to-one matching."""
    rows = plan / plan.sum(-1, keepdim=True).clamp_min(1e-30)
    entropy = -(rows * rows.clamp_min(1e-30).log()).sum(-1)
    m = (b > 0).sum(-1, keepdim=True).clamp_min(2).float()
    real = (a > 0).float()
    return ((entropy / m.log()) * real).sum(-1) / real.sum(-1).clamp_min(1)


def ot_alignment_loss(teacher_states: torch.Tensor, student_states: torch.Tensor, teacher_mask: torch.Tensor,
                      student_mask: torch.Tensor, epsilon: float = 0.05, normalise_cost: bool = True,
                      max_iter: int = 100, tol: float = 1e-4, grad: str = "envelope",
                      teacher_weights: torch.Tensor | None = None, student_weights: torch.Tensor | None = None):
    """OT distance between teacher token states (B, n, d) and student token states (B, m, d), averaged.

    ``normalise_cost`` divides each problem's cosine costs by their largest real value (detached), so ``epsilon`` is
    relative to the cost spread. Returns ``(loss, transport, entropy)``; empty problems count as zero. Non-convergence
    is not warned about here: ``transport.marginal_error`` says how far the plan is from its marginals.

    The costs and the Sinkhorn iterations run in float32 even inside an autocast region (states of a bf16 or fp16
    forward are cast up first).
    """
    with torch.autocast(teacher_states.device.type, enabled=False):
        return _ot_alignment_loss(teacher_states.float(), student_states.float(), teacher_mask, student_mask, epsilon,
                                  normalise_cost, max_iter, tol, grad, teacher_weights, student_weights)


def _ot_alignment_loss(teacher_states, student_states, teacher_mask, student_mask, epsilon, normalise_cost, max_iter,
                       tol, grad, teacher_weights, student_weights):
    cost = cosine_cost(teacher_states, student_states)
    a = mask_marginals(teacher_mask, teacher_weights)
    b = mask_marginals(student_mask, student_weights)
    if normalise_cost:
        real = (a[:, :, None] > 0) & (b[:, None, :] > 0)
        scale = torch.where(real, cost, torch.zeros_like(cost)).detach().amax((1, 2)).clamp_min(1e-6)
        cost = cost / scale[:, None, None]
    transport = sinkhorn(cost, a, b, epsilon, max_iter, tol, grad, warn=False)
    if grad == "envelope":
        per_problem = (transport.plan.detach() * cost).sum((1, 2))
    else:
        per_problem = transport.cost
    valid = (~transport.empty).float()
    loss = (per_problem * valid).sum() / valid.sum().clamp_min(1)
    return loss, transport, plan_entropy(transport.plan.detach(), a, b)
