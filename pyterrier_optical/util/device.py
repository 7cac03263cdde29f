"""Torch devices."""
from __future__ import annotations


def infer_device(device=None):
    """``device`` as a ``torch.device``; None picks CUDA when available."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)
