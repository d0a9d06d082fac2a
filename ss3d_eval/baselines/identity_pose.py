"""The ``identity_pose`` baseline: "no motion" between consecutive frames (``T_prev_cur`` = the 4×4 identity).

Scored on exactly the pairs the model is scored on (consecutive frames that both have a ground-truth pose) with the
same :func:`~ss3d_eval.pose_metrics.relative_pose_error`:

* rotation error: the geodesic angle of ``I^T R_gt = R_gt``, i.e. the ground-truth inter-frame rotation angle. Its
  mean is what a pose network scores by predicting nothing: the honest floor for "the rotation beats doing nothing".
* translation direction: a zero translation has no direction, so it is ``None`` on every pair and the pair is counted
  as skipped with the usual reasons (``est_translation_zero``, or ``gt_below_noise_floor`` when the ground truth
  itself barely moved); the aggregated ``tdir_err_deg`` is therefore ``null``.
"""

from __future__ import annotations

import numpy as np

from ss3d_eval.pose_metrics import TRANSLATION_NOISE_FLOOR_M, RelativePoseError, relative_pose_error

__all__ = ["identity_T_prev_cur", "identity_pose_error"]


def identity_T_prev_cur() -> np.ndarray:
    """The baseline's prediction: ``4×4`` float64 identity (no rotation, zero translation)."""
    return np.eye(4)


def identity_pose_error(
    T_prev_cur_gt: np.ndarray, noise_floor_m: float = TRANSLATION_NOISE_FLOOR_M
) -> RelativePoseError:
    """Error of the "no motion" prediction on one pair.

    Args:
        T_prev_cur_gt: ``4×4`` ground-truth motion (current camera into previous camera), translation in metres.
        noise_floor_m: ground-truth translations shorter than this skip the direction error (as for the model).

    Returns:
        :class:`~ss3d_eval.pose_metrics.RelativePoseError` with ``rot_err_deg`` = the ground-truth rotation
        angle (degrees) and ``tdir_err_deg`` = ``None``.

    Raises:
        ValueError: on a non-finite or non-4×4 ``T_prev_cur_gt``.
    """
    return relative_pose_error(identity_T_prev_cur(), T_prev_cur_gt, noise_floor_m)
