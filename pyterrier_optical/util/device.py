"""Torch devices and numeric precision: which reduced precision the hardware runs fast, and autocast around one
forward (or one training step) at a time."""
from __future__ import annotations

import contextlib
import logging

logger = logging.getLogger(__name__)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # of training and inference
INFERENCE_PRECISIONS = PRECISIONS + ("int8",)  # int8: inference on CPUs only, by OpenVINO
BACKENDS = ("torch", "openvino")  # what runs a reranker's or encoder's forward passes (models.openvino_backend)
CPU_BATCH_SIZE = 16  # inputs per forward pass on a CPU: the fastest of 4-64 for rerankers and encoders (precision.md)
_logged = set()


def parse_device(device=None):
    """``device`` as a ``torch.device``, whether or not this machine has it (None: CUDA when available); a value
    that is not a device is a ValueError naming it."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise ValueError(f"device must be a torch device such as 'cpu', 'cuda' or 'cuda:0' (or None: CUDA when "
                         f"available), got {device!r}")
    try:
        return torch.device(device)
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"device {device!r} is not a torch device ({str(e).splitlines()[0]}); use 'cpu', 'cuda', "
                         "'cuda:0', ... or None") from None


def infer_device(device=None):
    """``device`` as a ``torch.device``; None picks CUDA when available. A device this machine does not have (CUDA
    without a GPU, ``cuda:1`` with one GPU, MPS off a Mac) or a name torch does not know is a ValueError naming it,
    raised before any model is loaded."""
    import torch

    resolved = parse_device(device)
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise ValueError(f"device {device!r} was asked for, but CUDA is not available here (torch "
                             f"{torch.__version__}, torch.cuda.is_available() is False): use device='cpu' or None")
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(f"device {device!r} was asked for, but this machine has {count} CUDA device(s): "
                             f"cuda:0{f' to cuda:{count - 1}' if count > 1 else ''}")
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} was asked for, but MPS is not available here: use device='cpu' or None")
    return resolved


def inference_batch_size(batch_size, device, accelerator: int) -> int:
    """``batch_size``, or when None the default for ``device``: ``CPU_BATCH_SIZE`` on a CPU (where batch 64 runs at
    0.78-0.96x its speed on either backend: ``benchmarks/batch_size.py``), ``accelerator`` on a GPU."""
    if batch_size is None:
        return CPU_BATCH_SIZE if parse_device(device).type == "cpu" else accelerator
    return batch_size


def bf16_supported(device) -> bool:
    """Whether ``device`` has bf16 arithmetic units: a GPU that supports bf16, or a CPU whose instructions torch
    reports as ``amx_bf16`` or ``avx512_bf16`` (what torch sees, not the CPU's name)."""
    import torch

    device = infer_device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        capabilities = torch.cpu.get_capabilities()
        return bool(capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"))
    return False


def speed_class(precision: str, device) -> str:
    """The kind of hardware a concrete ``precision`` runs on, for time estimates: the precision itself, except bf16 on
    a CPU without AMX tiles (``bf16-avx512``), where bf16 training steps take about three times as long as with AMX."""
    import torch

    if precision == "bf16" and infer_device(device).type == "cpu" \
            and not torch.cpu.get_capabilities().get("amx_bf16"):
        return "bf16-avx512"
    return precision


def fp16_supported(device) -> bool:
    """fp16 autocast is worth it on GPUs only."""
    return infer_device(device).type == "cuda"


def auto_precision(device) -> str:
    """bf16 where the hardware has it; fp16 on a GPU without bf16; fp32 elsewhere."""
    if bf16_supported(device):
        return "bf16"
    return "fp16" if fp16_supported(device) else "fp32"


def resolve_precision(precision: str, device) -> str:
    """``precision`` (``auto``, ``fp32``, ``bf16``, ``fp16``) made concrete for ``device``. ``auto`` picks
    :func:`auto_precision` and logs the choice once; bf16 or fp16 asked for on hardware without it is an error
    naming what ``auto`` would pick (never a silent fallback)."""
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(INFERENCE_PRECISIONS)}")
    device = infer_device(device)
    if precision == "int8":
        if device.type != "cpu":
            raise ValueError(f"precision 'int8' runs on CPUs; the device here is {device.type}")
        return precision
    auto = auto_precision(device)
    if precision == "auto":
        if (device.type, auto) not in _logged:
            _logged.add((device.type, auto))
            logger.warning("precision 'auto' on %s: %s", device.type, auto)
        return auto
    supported = {"fp32": True, "bf16": bf16_supported(device), "fp16": fp16_supported(device)}[precision]
    if not supported:
        raise ValueError(f"precision {precision!r} was asked for, but the {device.type} device here does not support "
                         f"it; precision='auto' would pick {auto!r}")
    return precision


def resolve_backend(backend, precision: str, device) -> str:
    """``backend`` (``torch``, ``openvino``, or None: ``openvino`` for int8, else ``torch``) checked against a concrete
    ``precision`` and ``device``: OpenVINO runs fp32, bf16 and int8 on CPUs, torch all but int8."""
    if backend is None:
        backend = "openvino" if precision == "int8" else "torch"
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "torch" and precision == "int8":
        raise ValueError("precision 'int8' runs on backend='openvino' (or leave backend unset)")
    if backend == "openvino":
        if infer_device(device).type != "cpu":
            raise ValueError(f"backend 'openvino' runs on CPUs; the device here is {infer_device(device).type}")
        if precision == "fp16":
            raise ValueError("backend 'openvino' runs precision fp32, bf16 or int8, not fp16")
    return backend


def autocast(precision: str, device):
    """An autocast context for a concrete ``precision`` on ``device`` (a no-op for fp32). Enter it around one
    forward pass or one training step, never around a training loop: its cast cache must not outlive the weights
    it copied."""
    import torch

    device = infer_device(device)
    if precision in ("fp32", "int8"):  # int8 models run outside torch (OpenVINO ones ignore autocast)
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return torch.autocast(device.type, dtype=dtype)



def cpu_flags() -> str:
    """The CPU's name and the vector and matrix units torch reports, for stating where a figure was measured."""
    import torch

    capabilities = torch.cpu.get_capabilities()
    names = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512_vnni", "avx512_f", "avx2")
    return f"{capabilities.get('cpu_name', '?')}: " + " ".join(n for n in names if capabilities.get(n))
