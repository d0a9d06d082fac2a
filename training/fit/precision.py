"""Numeric precision of the network's forward pass in training: bf16 autocast where the hardware runs bf16 natively.

bf16 autocast (``torch.autocast``) runs convolutions and matrix products in bfloat16 and keeps the rest in float32.
Measured on a 2-core CPU with AMX-BF16 / AVX512-BF16, it made a training step 11 % faster (issue 24); on a CPU without
native bf16 (AVX2 only) PyTorch emulates it and the network's forward and backward took 12× longer
(docs/experiments.md, "A faster training step"). ``auto`` therefore asks the hardware: bf16 on a CUDA GPU that
supports it and on a CPU whose oneDNN build runs bf16 natively, float32 everywhere else.

Only the encoder is autocast (:class:`training.fit.module.SS3DLightningModule`; it runs on all three frames of a sample,
most of the network's cost): the depth decoder ends in a sigmoid whose bfloat16 rounding (8-bit mantissa, steps of
0.4 %) changed the smoothness term of a test triplet by a third, the motion head turns its outputs into a rotation
matrix, where bfloat16 would round ``cos θ`` of a 0.1° rotation to 1, and every loss runs in float32.
"""

from __future__ import annotations

import contextlib
import functools

import torch

__all__ = ["PRECISIONS", "bf16_is_native", "network_autocast", "resolve_precision"]

PRECISIONS = ("fp32", "bf16", "auto")


@functools.cache
def bf16_is_native(device_type: str) -> bool:
    """Whether ``device_type`` (``"cpu"`` or ``"cuda"``) runs bf16 convolutions natively (no emulation)."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)  # oneDNN's own ISA check
        return bool(probe()) if probe is not None else False
    return False


def resolve_precision(precision: str, device_type: str) -> str:
    """``"fp32"`` or ``"bf16"`` for a requested :data:`PRECISIONS` value on ``device_type``.

    Raises:
        ValueError: ``precision`` is not one of :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"network_precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if bf16_is_native(device_type) else "fp32"
    return precision


def network_autocast(precision: str, device_type: str) -> contextlib.AbstractContextManager:
    """The autocast context of a resolved ``precision`` (``"bf16"``: bfloat16 autocast; ``"fp32"``: a no-op)."""
    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
