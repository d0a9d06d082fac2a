"""Ground-truth poses of a clip's frames where the clip is, or overlaps, a TUM-layout sequence with ``groundtruth.txt``.

Frame ``i`` is frame ``i`` of the training cache and of the SfM store (``ClipSpec.iter_stamped_frames`` at the corpus
rate). Its ground truth is found as the evaluator finds a frame's (:class:`ss3d_core.io.tum_sequence.TumSequence`):
the ``groundtruth.txt`` pose nearest in time within ``max_diff_s`` (Sturm et al. 2012's association tolerance,
:data:`ss3d_core.io.tum_sequence.DEFAULT_MAX_TIME_DIFF_S`), read with
:func:`ss3d_core.io.ground_truth.trajectory_from_tum_file`. The frame's time:

* a ``tum`` clip (a sequence read as a clip, or a copy of one): the stamp the clip index gives the frame;
* a ``frames`` clip (an image folder, which carries no time): the stamp ``rgb.txt`` lists for the image of the same
  file name without its suffix (a copy of a sequence's frames re-encoded or resized keeps the names, e.g. DGP's
  microsecond stamps); a frame whose name the sequence does not list has no ground truth.

Video and rosbag2 clips carry no stamp or name in the sequence's time, so they are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ss3d_core.io.ground_truth import trajectory_from_tum_file
from ss3d_core.io.image_folder import list_frames
from ss3d_core.io.stamps import seconds_to_ns
from ss3d_core.io.tum_sequence import DEFAULT_MAX_TIME_DIFF_S, TumSequence
from training.data.clips import ClipSpec

__all__ = ["GT_FILE", "clip_ground_truth"]

# The ground-truth trajectory of a TUM-layout sequence (ss3d_core.io.tum_sequence).
GT_FILE = "groundtruth.txt"


def _frame_stamps(spec: ClipSpec, sequence: TumSequence, target_rate_hz: float) -> list[float | None]:
    """Each clip frame's time in seconds on the sequence's clock (``None``: not one of the sequence's frames)."""
    if spec.kind == "tum":
        return [stamp for stamp, _ in spec.iter_stamped_frames(target_rate_hz)]
    if spec.kind == "frames":
        by_name = {Path(path).stem: stamp for stamp, path in sequence.rgb}
        return [by_name.get(path.stem) for path in list_frames(spec.folder / "frames")]
    raise ValueError(f"clip {spec.name} is a {spec.kind} clip: only tum and frames clips can be matched to a "
                     f"sequence's ground truth (by stamp or by file name)")


def clip_ground_truth(
    spec: ClipSpec, sequence_root: str | Path, target_rate_hz: float, max_diff_s: float = DEFAULT_MAX_TIME_DIFF_S
) -> list[np.ndarray | None]:
    """One ground-truth pose per frame of the clip (module docstring).

    Args:
        spec: the clip (a sequence read as a clip by :func:`training.data.clips.read_clip_index`, or a corpus clip
            that overlaps the sequence).
        sequence_root: the TUM-layout sequence holding ``groundtruth.txt``.
        target_rate_hz: the corpus rate the clip's frames are taken at.
        max_diff_s: association tolerance between a frame's stamp and a ground-truth stamp, seconds.

    Returns:
        ``N`` entries, ``4×4`` float64 ``T_world_camera`` (metres, optical frame) or ``None`` where the frame has no
        ground truth within ``max_diff_s``.

    Raises:
        FileNotFoundError: the sequence has no ``rgb.txt``, ``calib.yaml`` or ``groundtruth.txt``, or the clip's source
            is missing.
        ValueError: a video or rosbag2 clip, or a malformed sequence file.
    """
    sequence = TumSequence.load(sequence_root)
    gt_path = Path(sequence_root) / GT_FILE
    if not gt_path.is_file():
        raise FileNotFoundError(f"{sequence_root}: no {GT_FILE}")
    trajectory = trajectory_from_tum_file(gt_path)
    return [None if stamp is None else trajectory.pose_at(seconds_to_ns(stamp), max_diff_s)
            for stamp in _frame_stamps(spec, sequence, target_rate_hz)]
