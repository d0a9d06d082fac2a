"""Depth self-check on a clip corpus, without ground truth: the network's depth against triangulated flow.

For evenly spaced consecutive pairs ``(previous, current)`` of each clip, at the training rate and the network's
input size, the network predicts the current frame's depth and K from the pair. The current frame is then labelled
exactly as in training (:func:`training.labels.triangulated_labels.triangulated_labels`: DIS flow towards the previous
frame with a forward-backward mask, dropped unless SIFT matches confirm it (:mod:`training.labels.flow_verification`;
off with ``--no-flow-match-check``, as stages 1 to 9 were trained), a five-point pose fitted to that flow with the
network's own K, triangulation of the pixels whose flow agrees with that pose and whose rays meet at 1° or more), and
the prediction is scored on the labelled pixels with the evaluator's depth protocol
(:func:`ss3d_eval.depth_metrics.depth_metrics`: per-image median scaling, AbsRel, δ1) next to a constant
depth, plus the Spearman rank correlation of the two depths.

It answers, for any log without depth ground truth (a robot's own recordings included), whether the depth has learnt
the scene's structure: a prediction no better than the constant has not, whatever its photometric loss says. Labels
exist only where the camera translated enough, and carry the flow's noise (the labels of one pixel towards the
previous and the next frame differ by a median 0.06 in log depth on the web clips), so read medians over many pairs,
not single pairs.

``python -m training.selfcheck.depth_agreement --checkpoint ss3d_core/models/ss3d_small --root ../shared/data/web_clips
--output out/depth_agreement.json``
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

from ss3d_core.losses.triangulated_depth import MIN_LABELLED_PIXELS
from ss3d_core.network import SS3DNet
from ss3d_core.preprocess import to_network_input
from ss3d_eval.depth_metrics import depth_metrics
from ss3d_eval.report import format_value
from ss3d_eval.statistics import median_or_none, spearman_or_none
from training.data.clips import ClipSpec
from training.labels.flow_verification import sparse_matches, verify_pair_masks
from training.labels.optical_flow import pair_flows
from training.labels.triangulated_labels import triangulated_labels
from training.selfcheck.clip_check import corpus_parser, load_net_and_clips, sampled_pairs, write_report

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairAgreement:
    """Depth of one current frame against its triangulated labels (dimensionless).

    Attributes:
        abs_rel: AbsRel of the median-scaled prediction on the labelled pixels.
        abs_rel_constant: AbsRel of a constant depth (its median-scaled value is the labels' median).
        delta1, delta1_constant: fraction of labelled pixels within a factor 1.25, prediction and constant.
        spearman: rank correlation of predicted and labelled depth (``None`` when either is constant).
        labelled_fraction: labelled pixels over all pixels.
    """

    abs_rel: float
    abs_rel_constant: float
    delta1: float
    delta1_constant: float
    spearman: float | None
    labelled_fraction: float


def pair_agreement(depth: np.ndarray, label_depth: np.ndarray, labelled: np.ndarray) -> PairAgreement | None:
    """Score one predicted depth map against triangulated labels.

    Args:
        depth: ``H×W`` predicted depth (> 0, any unit).
        label_depth: ``H×W`` triangulated depth (> 0 where ``labelled``; its own unit, one scale per image).
        labelled: ``H×W`` bool mask of labelled pixels.

    Returns:
        :class:`PairAgreement`, or ``None`` when fewer than ``MIN_LABELLED_PIXELS`` pixels are labelled (the same
        floor as the training loss: too few for a per-image scale).

    Raises:
        ValueError: if the three arrays do not share one ``H×W`` shape.
    """
    if depth.ndim != 2 or depth.shape != label_depth.shape or depth.shape != labelled.shape:
        raise ValueError(f"shapes differ: depth {depth.shape}, labels {label_depth.shape}, mask {labelled.shape}")
    if int(labelled.sum()) < MIN_LABELLED_PIXELS:
        return None
    # The labels stand in for ground truth: zero marks unlabelled pixels; no cap, since their unit is arbitrary.
    labels = np.where(labelled, label_depth, 0.0)
    predicted = depth_metrics(depth, labels, cap_m=np.inf, min_m=0.0)
    constant = depth_metrics(np.ones_like(depth), labels, cap_m=np.inf, min_m=0.0)
    return PairAgreement(
        abs_rel=predicted.abs_rel,
        abs_rel_constant=constant.abs_rel,
        delta1=predicted.delta1,
        delta1_constant=constant.delta1,
        spearman=spearman_or_none(depth[labelled], label_depth[labelled]),
        labelled_fraction=float(labelled.mean()),
    )


@dataclass(frozen=True)
class ClipDepthAgreement:
    """Medians over the labelled pairs of one clip (see :class:`PairAgreement`).

    Attributes:
        clip: clip name.
        n_pairs: pairs with labels.
        n_unlabelled: pairs without (no five-point pose, or too little parallax).
        abs_rel, abs_rel_constant, spearman: medians over the labelled pairs (``None`` without any).
        better_than_constant: fraction of labelled pairs where the prediction's AbsRel beats the constant's.
    """

    clip: str
    n_pairs: int
    n_unlabelled: int
    abs_rel: float | None
    abs_rel_constant: float | None
    spearman: float | None
    better_than_constant: float | None


def frame_pair_agreement(
    net: SS3DNet, prev: np.ndarray, cur: np.ndarray, flow_match_check: bool = True
) -> PairAgreement | None:
    """Score the network's depth of ``cur`` against depth triangulated from the flow of the pair (see the module
    docstring), both ``H×W×3`` uint8 RGB frames of one size, resized to the network input size as in training; with
    ``flow_match_check`` a pair whose flow SIFT matches do not confirm is unlabelled, as in training.

    Returns:
        :class:`PairAgreement`, or ``None`` when the pair yields too few labelled pixels.
    """
    width, height = net.config.input_width, net.config.input_height
    small_prev, small_cur = (cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in (prev, cur))
    # The training flows (float16, forward-backward masked); the label's target is the current frame, so its
    # flow is the backward one (current -> previous).
    forward, forward_valid, backward, backward_valid = pair_flows(np.stack([small_prev, small_cur]))
    if flow_match_check:  # the same check as training's load_clip_frames, on the full-size pair
        _, backward_valid, _ = verify_pair_masks(forward, forward_valid, backward, backward_valid,
                                                 [sparse_matches(prev, cur, width, height)])
    flow, trusted = backward[0].astype(np.float32), backward_valid[0]
    with torch.no_grad():
        out = net(torch.from_numpy(to_network_input(small_prev, width, height)),
                  torch.from_numpy(to_network_input(small_cur, width, height)))
    labels = triangulated_labels(
        torch.from_numpy(flow).permute(2, 0, 1)[None], torch.from_numpy(trusted)[None, None].float(), out.K
    )
    return pair_agreement(out.depth[0, 0].double().numpy(), labels.depth[0, 0].double().numpy(),
                          labels.valid[0, 0].numpy())


def clip_depth_agreement(
    net: SS3DNet, clip: ClipSpec, n_pairs: int, target_rate_hz: float, flow_match_check: bool = True
) -> ClipDepthAgreement:
    """Score one clip (see the module docstring) on pairs from :func:`training.selfcheck.clip_check.sampled_pairs`
    (memory bounded however long the log is) with :func:`frame_pair_agreement`."""
    scored, unlabelled = [], 0
    for prev, cur in sampled_pairs(clip, n_pairs, target_rate_hz):
        result = frame_pair_agreement(net, prev, cur, flow_match_check)
        if result is None:
            unlabelled += 1
        else:
            scored.append(result)
    return ClipDepthAgreement(
        clip=clip.name,
        n_pairs=len(scored),
        n_unlabelled=unlabelled,
        abs_rel=median_or_none([r.abs_rel for r in scored]),
        abs_rel_constant=median_or_none([r.abs_rel_constant for r in scored]),
        spearman=median_or_none([r.spearman for r in scored]),
        better_than_constant=float(np.mean([r.abs_rel < r.abs_rel_constant for r in scored])) if scored else None,
    )


def _main(argv: list[str] | None = None) -> int:
    parser = corpus_parser("python -m training.selfcheck.depth_agreement", __doc__.split("\n\n")[0])
    parser.add_argument("--flow-match-check", action=argparse.BooleanOptionalAction, default=True,
                        help="label only pairs whose flow SIFT matches confirm (training's data.flow_match_check)")
    args = parser.parse_args(argv)
    net, clips = load_net_and_clips(parser, args)
    results = [clip_depth_agreement(net, c, args.pairs_per_clip, args.target_rate_hz, args.flow_match_check)
               for c in clips]
    for r in results:
        LOG.info("%-34s pairs %2d (unlabelled %d)  AbsRel %s (constant %s)  Spearman %s", r.clip, r.n_pairs,
                 r.n_unlabelled, format_value(r.abs_rel), format_value(r.abs_rel_constant), format_value(r.spearman, 2))
    summary = {
        "median_of_clip_abs_rel": median_or_none([r.abs_rel for r in results]),
        "median_of_clip_abs_rel_constant": median_or_none([r.abs_rel_constant for r in results]),
        "median_of_clip_spearman": median_or_none([r.spearman for r in results]),
        "n_clips_labelled": sum(r.n_pairs > 0 for r in results),
        "n_pairs": sum(r.n_pairs for r in results),
    }
    LOG.info("median over clips: AbsRel %s (constant %s), Spearman %s (%d pairs in %d clips)",
             format_value(summary["median_of_clip_abs_rel"]), format_value(summary["median_of_clip_abs_rel_constant"]),
             format_value(summary["median_of_clip_spearman"], 2), summary["n_pairs"], summary["n_clips_labelled"])
    write_report(args.output, args.checkpoint, summary, [asdict(r) for r in results])
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
