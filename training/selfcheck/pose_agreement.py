"""Pose self-check on training clips, without ground truth: the network's ego-motion against a five-point solution.

For evenly spaced consecutive pairs of each clip (frames at the training rate), the network predicts ``T_prev_cur``
and K from the pair at its input size. The evaluator's five-point baseline
(:mod:`ss3d_eval.baselines.five_point`: SIFT, ratio test, USAC essential matrix, cheirality) then solves
the same pair at full resolution *with the network's own K* (rescaled to the frame size), so the two poses share the
intrinsics and differ only in how the motion was found. Their disagreement (rotation angle, translation direction
angle) bounds how well the pose head has fitted the clips it trains on: a pose head that disagrees with geometry on
its own training data cannot give depth a correct parallax signal. Five-point solutions are not ground truth
(moving objects, low parallax, repetitive texture), so read the medians over many pairs, not single pairs.

``python -m training.selfcheck.pose_agreement --checkpoint ss3d_core/models/ss3d_small --root ../shared/data/web_clips
--output out/pose_agreement.json``
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ss3d_core.camera import scale_K
from ss3d_core.network import SS3DNet
from ss3d_core.preprocess import to_network_input
from ss3d_eval.baselines.five_point import estimate_relative_pose
from ss3d_eval.pose_metrics import RelativePoseError, relative_pose_error
from ss3d_eval.report import format_value
from ss3d_eval.statistics import median_or_none
from training.data.clips import ClipSpec
from training.selfcheck.clip_check import corpus_parser, load_net_and_clips, sampled_pairs, write_report

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipAgreement:
    """Disagreement of the network with the five-point solution on one clip (medians over pairs, degrees).

    Attributes:
        clip: clip name.
        n_pairs: pairs where the five-point solver succeeded.
        n_failed: pairs it could not solve (too few matches or inliers).
        rot_deg: median rotation angle between the two ``T_prev_cur``.
        tdir_deg: median angle between the two translation directions (sign included).
        fx_norm: median network focal length ``fx / W``.
    """

    clip: str
    n_pairs: int
    n_failed: int
    rot_deg: float | None
    tdir_deg: float | None
    fx_norm: float | None


def frame_pair_pose_agreement(
    net: SS3DNet, prev: np.ndarray, cur: np.ndarray
) -> tuple[RelativePoseError | None, float]:
    """The network's ``T_prev_cur`` of one pair (``H×W×3`` uint8 RGB frames of one size) against the five-point
    solution with the network's own K (see the module docstring).

    Returns:
        ``(error, fx_norm)``: the disagreement (``noise_floor_m = 0``: every pair has a direction) or ``None`` when
        the five-point solver fails, and the network's focal length ``fx / W``.

    Raises:
        ValueError: if the frames differ in size.
    """
    if prev.shape != cur.shape:
        raise ValueError(f"frames differ in size: {prev.shape} vs {cur.shape}")
    width, height = net.config.input_width, net.config.input_height
    with torch.no_grad():
        out = net(torch.from_numpy(to_network_input(prev, width, height)),
                  torch.from_numpy(to_network_input(cur, width, height)))
    K_net = out.K[0].double().numpy()
    K_frame = scale_K(K_net, (width, height), (cur.shape[1], cur.shape[0]))
    five_point = estimate_relative_pose(prev, cur, K_frame)
    if five_point.T_prev_cur is None:
        return None, float(K_net[0, 0] / width)
    error = relative_pose_error(out.T_prev_cur[0].double().numpy(), five_point.T_prev_cur, noise_floor_m=0.0)
    return error, float(K_net[0, 0] / width)


def clip_agreement(net: SS3DNet, clip: ClipSpec, n_pairs: int, target_rate_hz: float) -> ClipAgreement:
    """Score one clip (see the module docstring) on full-resolution pairs from
    :func:`training.selfcheck.clip_check.sampled_pairs` (memory bounded however long the log is)."""
    rot, tdir, fx, failed = [], [], [], 0
    for prev, cur in sampled_pairs(clip, n_pairs, target_rate_hz):
        if prev.shape != cur.shape:
            failed += 1
            continue
        error, fx_norm = frame_pair_pose_agreement(net, prev, cur)
        fx.append(fx_norm)
        if error is None:
            failed += 1
            continue
        rot.append(error.rot_err_deg)
        if error.tdir_err_deg is not None:
            tdir.append(error.tdir_err_deg)
    return ClipAgreement(
        clip=clip.name,
        n_pairs=len(rot),
        n_failed=failed,
        rot_deg=median_or_none(rot),
        tdir_deg=median_or_none(tdir),
        fx_norm=median_or_none(fx),
    )


def _main(argv: list[str] | None = None) -> int:
    parser = corpus_parser("python -m training.selfcheck.pose_agreement", __doc__.split("\n\n")[0])
    parser.add_argument("--consecutive-only", action="store_true",
                        help="only clips of consecutive video frames (photo sets have wide, irregular baselines)")
    args = parser.parse_args(argv)
    net, clips = load_net_and_clips(parser, args, consecutive_only=args.consecutive_only)
    results = [clip_agreement(net, c, args.pairs_per_clip, args.target_rate_hz) for c in clips]
    for r in results:
        LOG.info("%-34s pairs %2d (failed %d)  rot %s°  tdir %s°  fx/W %s", r.clip, r.n_pairs, r.n_failed,
                 format_value(r.rot_deg, 2), format_value(r.tdir_deg, 1), format_value(r.fx_norm, 2))
    summary = {
        "median_of_clip_rot_deg": median_or_none([r.rot_deg for r in results]),
        "median_of_clip_tdir_deg": median_or_none([r.tdir_deg for r in results]),
        "n_clips": len(results),
        "n_pairs": sum(r.n_pairs for r in results),
    }
    LOG.info("median over clips: rot %s°, tdir %s° (%d pairs)", format_value(summary["median_of_clip_rot_deg"], 2),
             format_value(summary["median_of_clip_tdir_deg"], 1), summary["n_pairs"])
    write_report(args.output, args.checkpoint, summary, [asdict(r) for r in results])
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
