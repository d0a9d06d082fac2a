"""The SfM teacher's pose labels scored against ground truth: what the loss sees, pair by pair (issue 33, item 2).

For every training target ``t`` of a clip (``t - 1``, ``t`` and ``t + 1`` in one shot segment of the SfM labels, the
rule of :func:`training.data.shots.triplet_targets`), the labels are those
:func:`training.sfm.triplet_labels.triplet_labels` puts in the batch without augmentation (pixel map ``A = I``):
``T_prev_tgt`` and ``T_next_tgt`` with their rotation and translation masks. Each label whose rotation mask is set
is compared with the ground-truth motion of the same pair, ``T_src_tgt = inv(T_world_src) @ T_world_tgt``
(:func:`ss3d_eval.pose_metrics.relative_motion`), by :func:`ss3d_eval.pose_metrics.relative_pose_error` (Sturm et
al. 2012 RPE, per component as GUIDE §4 reports a monocular system):

* rotation error: geodesic angle of ``R_label^T R_gt``, degrees, on every label with the rotation mask;
* translation-direction error: angle between ``t_label`` and ``t_gt``, degrees, on the labels with the translation
  mask (those the loss scores) whose ground-truth translation reaches the evaluator's noise floor
  (:data:`ss3d_eval.pose_metrics.TRANSLATION_NOISE_FLOOR_M`); a direction label on a pair whose ground truth did not
  move is counted (``n_tdir_gt_static``): it is a label with no true direction.

A pair inside a segment is labelled twice, once from each of its frames as the target (``T_next_tgt`` of ``t - 1`` is
the inverse of ``T_prev_tgt`` of ``t``), as the loss sees it; both are scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ss3d_core.pose import rotation_angle_deg
from ss3d_eval.pose_metrics import TRANSLATION_NOISE_FLOOR_M, relative_motion, relative_pose_error
from training.data.shots import triplet_targets
from training.sfm.store import SfmLabels
from training.sfm.triplet_labels import triplet_labels

__all__ = ["P90", "LabelError", "label_errors", "summarise_label_errors"]

# The upper percentile the summary reports beside the median and the mean (the tail a few bad labels make).
P90 = 90.0
# The labels without augmentation: the identity pixel map (training.data.augmentation).
_NO_AUGMENTATION = np.eye(3)


@dataclass(frozen=True)
class LabelError:
    """One pose label of a training triplet against the ground truth of the same pair.

    Attributes:
        target: the triplet's target frame ``t`` (the clip's frame index at the corpus rate).
        source: ``t - 1`` (the ``T_prev_tgt`` label) or ``t + 1`` (``T_next_tgt``).
        rot_err_deg: geodesic angle of ``R_label^T R_gt``, degrees.
        tdir_err_deg: angle between the label's and the ground truth's translation, degrees; ``None`` when the label
            has no translation mask or the ground truth moved less than the noise floor.
        translation_labelled: the loss scores this label's translation direction (``sfm_translation_valid``).
        gt_rotation_deg: the ground-truth rotation of the pair, degrees (the scale of ``rot_err_deg``).
        gt_translation_m: ``|t_gt|`` of the pair, metres.
    """

    target: int
    source: int
    rot_err_deg: float
    tdir_err_deg: float | None
    translation_labelled: bool
    gt_rotation_deg: float
    gt_translation_m: float

    def as_dict(self) -> dict[str, object]:
        """Plain-dict form (JSON-ready)."""
        return asdict(self)


def _segment_runs(segment: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` runs of equal values of the per-frame segment index ``segment`` (``N`` int), in order."""
    bounds = [0, *(np.flatnonzero(np.diff(segment)) + 1).tolist(), len(segment)]
    return list(zip(bounds[:-1], bounds[1:]))


def label_errors(
    labels: SfmLabels, T_world_camera_gt: Sequence[np.ndarray | None],
    noise_floor_m: float = TRANSLATION_NOISE_FLOOR_M,
) -> list[LabelError]:
    """Score every pose label the loss sees on a clip (module docstring).

    Args:
        labels: the clip's SfM labels as training loads them (:func:`training.sfm.store.load_sfm`).
        T_world_camera_gt: one ``4×4`` float64 ground-truth ``T_world_camera`` (metres, optical frame) per clip frame,
            ``None`` where the frame has no ground truth (its pairs are not scored).
        noise_floor_m: ground-truth translations shorter than this have no direction (metres).

    Returns:
        One :class:`LabelError` per label with the rotation mask and ground truth at both frames, in target order.

    Raises:
        ValueError: ``T_world_camera_gt`` does not have one entry per clip frame, or an entry is not a finite 4×4.
    """
    n = len(labels.registered)
    if len(T_world_camera_gt) != n:
        raise ValueError(f"{len(T_world_camera_gt)} ground-truth poses for the {n} frames of clip {labels.clip}")
    errors = []
    for t in triplet_targets(_segment_runs(labels.segment), n):
        out = triplet_labels(labels, t, _NO_AUGMENTATION, labels.width, labels.height)
        for i, source in enumerate((t - 1, t + 1)):
            if not out["sfm_rotation_valid"][i] or T_world_camera_gt[source] is None or T_world_camera_gt[t] is None:
                continue
            T_label = out["sfm_poses"][i].double().numpy()
            T_gt = relative_motion(T_world_camera_gt[source], T_world_camera_gt[t])
            error = relative_pose_error(T_label, T_gt, noise_floor_m)
            translation_labelled = bool(out["sfm_translation_valid"][i])
            errors.append(LabelError(
                target=t, source=source, rot_err_deg=error.rot_err_deg,
                tdir_err_deg=error.tdir_err_deg if translation_labelled else None,
                translation_labelled=translation_labelled, gt_rotation_deg=rotation_angle_deg(T_gt[:3, :3]),
                gt_translation_m=error.gt_translation_m,
            ))
    return errors


def _spread(values: list[float], name: str) -> dict[str, float | None]:
    """``{name}_median``, ``{name}_mean``, ``{name}_p90`` of ``values`` (``None`` for an empty list)."""
    if not values:
        return {f"{name}_median": None, f"{name}_mean": None, f"{name}_p90": None}
    return {f"{name}_median": float(np.median(values)), f"{name}_mean": float(np.mean(values)),
            f"{name}_p90": float(np.percentile(values, P90))}


def summarise_label_errors(errors: Sequence[LabelError],
                           noise_floor_m: float = TRANSLATION_NOISE_FLOOR_M) -> dict[str, float | int | None]:
    """Aggregate of one clip's :func:`label_errors`.

    Returns:
        ``n_rotation_labels`` (labels scored), ``rot_err_deg_{median,mean,p90}``, ``n_tdir_labels`` (direction labels
        scored), ``tdir_err_deg_{median,mean,p90}``, ``n_tdir_gt_static`` (direction labels on pairs whose ground
        truth moved less than ``noise_floor_m``), ``gt_rotation_deg_median`` and ``gt_translation_m_median`` (the
        motion's scale); ``None`` for statistics over no label.
    """
    directions = [e.tdir_err_deg for e in errors if e.tdir_err_deg is not None]
    return {
        "n_rotation_labels": len(errors),
        **_spread([e.rot_err_deg for e in errors], "rot_err_deg"),
        "n_tdir_labels": len(directions),
        **_spread(directions, "tdir_err_deg"),
        "n_tdir_gt_static": sum(e.translation_labelled and e.gt_translation_m < noise_floor_m for e in errors),
        "gt_rotation_deg_median": float(np.median([e.gt_rotation_deg for e in errors])) if errors else None,
        "gt_translation_m_median": float(np.median([e.gt_translation_m for e in errors])) if errors else None,
    }
