"""The network's parameter groups and their per-stage learning rates (the SS3D schedule's stage switch).

SS3D's schedule (GUIDE §1) trains intrinsics first and everything jointly afterwards. A stage is therefore a set of
learning-rate multipliers over five groups of :class:`ss3d_core.network.SS3DNet` parameters:

- ``encoder``: the shared ResNet-style encoder (``net.encoder``);
- ``depth_decoder``: the disparity decoder (``net.depth_decoder``);
- ``motion_trunk``: the pair trunk of the motion head (every ``net.motion_head`` parameter but the two output layers);
- ``pose``: the 6-DoF output layer (``net.motion_head.pose``);
- ``intrinsics``: the 4-value K output layer (``net.motion_head.intrinsics``).

A multiplier of 0 freezes the group (``requires_grad = False``, not handed to the optimiser); a missing group trains
at multiplier 1. The stage configs (``training/configs/stage1_intrinsics_first.yaml``, ``stage2_joint.yaml``) say
which multipliers each stage uses and why.
"""

from __future__ import annotations

from torch import nn

GROUPS = ("encoder", "depth_decoder", "motion_trunk", "pose", "intrinsics")


def parameter_groups(net: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Split an :class:`~ss3d_core.network.SS3DNet`'s parameters into :data:`GROUPS` (every parameter exactly once).

    Raises:
        ValueError: a parameter belongs to none of the groups (an architecture this module does not know).
    """
    head = net.motion_head
    outputs = {id(p): name for name in ("pose", "intrinsics") for p in getattr(head, name).parameters()}
    groups: dict[str, list[nn.Parameter]] = {name: [] for name in GROUPS}
    groups["encoder"] = list(net.encoder.parameters())
    groups["depth_decoder"] = list(net.depth_decoder.parameters())
    for p in head.parameters():
        groups[outputs.get(id(p), "motion_trunk")].append(p)
    assigned = {id(p) for params in groups.values() for p in params}
    stray = [name for name, p in net.named_parameters() if id(p) not in assigned]
    if stray:
        raise ValueError(f"parameters outside the known groups {GROUPS}: {stray}")
    return groups


def check_lr_scales(lr_scales: dict[str, float] | None) -> dict[str, float]:
    """Every group's learning-rate multiplier (1 where ``lr_scales`` does not name it).

    Raises:
        ValueError: an unknown group name or a negative multiplier.
    """
    scales = dict(lr_scales or {})
    unknown = sorted(set(scales) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown parameter groups {unknown}; the groups are {GROUPS}")
    if any(v < 0 for v in scales.values()):
        raise ValueError(f"learning-rate multipliers must be >= 0, got {scales}")
    return {name: float(scales.get(name, 1.0)) for name in GROUPS}


def freeze_groups(net: nn.Module, lr_scales: dict[str, float] | None) -> None:
    """Freeze (``requires_grad_(False)``) the groups whose multiplier is 0.

    Raises:
        ValueError: see :func:`check_lr_scales` and :func:`parameter_groups`.
    """
    scales = check_lr_scales(lr_scales)
    for name, params in parameter_groups(net).items():
        if scales[name] == 0:
            for p in params:
                p.requires_grad_(False)


def optimiser_groups(net: nn.Module, lr: float, lr_scales: dict[str, float] | None) -> list[dict[str, object]]:
    """Optimiser parameter groups (``{"name", "params", "lr"}``): each group's trainable parameters at
    ``lr`` × its multiplier; groups at 0 or without a trainable parameter are left out.

    Raises:
        ValueError: see :func:`check_lr_scales` and :func:`parameter_groups`.
    """
    scales = check_lr_scales(lr_scales)
    out = []
    for name, params in parameter_groups(net).items():
        trainable = [p for p in params if p.requires_grad]
        if scales[name] > 0 and trainable:
            out.append({"name": name, "params": trainable, "lr": lr * scales[name]})
    return out
