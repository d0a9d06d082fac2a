"""Evaluation groups: which kind of data each scored item belongs to, and aggregates that weigh every group equally.

A sequence's **group** comes from the data, not from a list in the code: the ``group`` key of its ``calib.yaml`` when
present, else the leading letters of its folder name, the dataset in the naming convention of
``../shared/data/sequences`` (``tum_fr1_xyz_pair1`` -> ``tum``, ``kitti_raw_sfnd_78`` and ``kitti06_pair_0012`` ->
``kitti``, ``dgp_scene02_cam05`` -> ``dgp``, ``nyu_v2_three_images`` -> ``nyu``). A new dataset dropped in as
``newset_*`` becomes its own group; a name without leading letters is a group of its own.

- Depth items (one per scored image) belong to their sequence's group: with today's sequences TUM, NYU v2, DGP and
  KITTI LiDAR.
- Pose items (one per scored consecutive pair) belong to their sequence's group when the camera moved (ground-truth
  translation at or above the noise floor), and to :data:`STATIC_GROUP` otherwise: at rest a no-motion prediction is
  near-perfect, so pooling static pairs with moving ones would reward drifting less rather than estimating motion.
- Intrinsics items (one per sequence with calibration) belong to their sequence's group.

Aggregates weigh each group equally (the mean over groups of each group's mean over its items), so that the 78 frames
of one drive do not outvote the three images of an indoor group; an item-pooled mean would be a statement about
whichever dataset has the most frames.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["GROUP_KEY", "STATIC_GROUP", "sequence_group", "reported_group", "group_balanced_mean", "pose_item_group"]

# Optional calib.yaml key that names a sequence's group explicitly (overrides the folder-name convention).
GROUP_KEY = "group"
# Pose pairs whose ground-truth translation is below the noise floor, from every sequence.
STATIC_GROUP = "static"
# The folder-name convention: ``<dataset letters><anything>`` (kitti06_pair_0012: kitti).
_DATASET_PREFIX = re.compile(r"[A-Za-z]+")


def sequence_group(name: str, metadata: Mapping[str, Any] | None = None) -> str:
    """The group of a sequence: ``metadata["group"]`` (from ``calib.yaml``) if set, else the name's leading letters.

    Args:
        name: the sequence folder name, e.g. ``"kitti_raw_sfnd_78"``.
        metadata: the sequence's ``calib.yaml`` metadata (``TumSequence.metadata``), or ``None``.

    Returns:
        The lower-case group name (``"kitti"``); a name that does not start with a letter is its own group.

    Raises:
        ValueError: a ``group`` key that is not a non-empty string.
    """
    explicit = (metadata or {}).get(GROUP_KEY)
    if explicit is not None:
        if not isinstance(explicit, str) or not explicit.strip():
            raise ValueError(f"{name}: calib.yaml {GROUP_KEY!r} must be a non-empty string, got {explicit!r}")
        return explicit.strip().lower()
    match = _DATASET_PREFIX.match(name)
    return (match.group(0) if match else name).lower()


def reported_group(name: str, sequence: Mapping[str, Any]) -> str:
    """The group of ``sequences.<name>`` of a parsed ``report.json``: the ``group`` it was scored under, or, in a
    report written before groups existed, the one :func:`sequence_group` gives its name."""
    return str(sequence.get("group") or sequence_group(name))


def pose_item_group(sequence_group_name: str, moving: bool) -> str:
    """The group of one pose pair: its sequence's group when the camera moved, :data:`STATIC_GROUP` at rest."""
    return sequence_group_name if moving else STATIC_GROUP


def group_balanced_mean(group_means: Iterable[float | None]) -> float | None:
    """Mean over groups of the groups' own means, each group weighted equally; ``None`` groups (no data) are left out.

    Returns:
        The mean, or ``None`` when no group has data.
    """
    present = [float(v) for v in group_means if v is not None]
    return sum(present) / len(present) if present else None
