"""The evaluation hold-out: corpus clips that share frames with an evaluation sequence never train.

An evaluation sequence's frames can reach a corpus by another path (a web clip cut from the same public test scene, a
robot log that also holds the evaluation bag), renamed, resized and re-encoded, so the guard compares content, not
names or bytes. Every frame becomes a *fingerprint* (:func:`frame_fingerprint`): grey, resized with area interpolation
to :data:`FINGERPRINT_SIZE` × :data:`FINGERPRINT_SIZE` pixels (the aspect ratio is dropped, so any resize of the whole
frame lands on the same grid), made zero-mean and unit-norm. The dot product of two fingerprints is their normalised
cross-correlation (NCC, Lewis 1995), in ``[-1, 1]``: invariant to a gain and offset of the brightness, and insensitive
to JPEG re-encoding and resampling, whose errors are small against the frame's own contrast. Two frames are the same
when their NCC is at least :data:`MATCH_NCC` (measured on the shared data, see there). A frame without contrast
(a uniform grey) has a zero fingerprint and matches nothing. Crops, flips and colour edits other than a gain and an
offset are not recognised.

Every frame of a clip is compared, at its source rate (:data:`ALL_FRAMES_RATE_HZ`: no subsampling), against every
frame of every evaluation sequence: training decodes a subsample (about 10 Hz) whose phase depends on the rate, and a
clip that holds an evaluation frame between two of its samples still holds its neighbours, so sampling either side
could miss a clip that holds a single evaluation frame. The cost is one decoding pass (video decoders decode every
frame to subsample anyway) and a ``1024``-float dot product per pair of frames.

The corpus commands apply the guard through :func:`screen_against`: ``python -m training mvs`` and ``sfm``
(``--holdout-sequences``) and the fit's DataModule (``data.holdout_sequences``). ``mvs`` records next to its
``scores.csv`` the sequences it screened against (:func:`write_screening_record`, ``scores.holdout.json``; an empty
list without ``--holdout-sequences``); a fit on those scores trusts their ``holdout`` column only when that record
names every sequence it is told to hold out (:func:`screening_gap`), and screens the clips itself otherwise.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ss3d_core.io.tum_sequence import TumSequence, find_sequences
from training.data.clips import ClipSpec

__all__ = ["ALL_FRAMES_RATE_HZ", "FINGERPRINT_SIZE", "MATCH_NCC", "SCREENING_RECORD_SUFFIX", "HoldoutIndex", "Overlap",
           "Screening", "clip_match_scores", "describe_overlaps", "find_overlaps", "frame_fingerprint",
           "overlap_counts", "screen_against", "screen_clips", "screening_gap", "screening_record_path",
           "write_screening_record"]

LOG = logging.getLogger(__name__)

# Side of the fingerprint grid in pixels: 32 × 32 = 1024 values, the size of the thumbnails of near-duplicate image
# retrieval (Torralba et al. 2008, "80 million tiny images", 32 × 32) and of the DCT grid of perceptual hashes
# (pHash); fine enough that a frame 0.1 s later on a moving camera stays below the threshold (see MATCH_NCC).
FINGERPRINT_SIZE = 32
# NCC at or above which two frames are the same frame. Measured with these fingerprints
# (benchmarks/holdout_threshold.py):
# each of the 8,995 frames of the 59 other clips of ../shared/data/web_clips (source rate) against the 271 frames of
# the 16 sequences of ../shared/data/sequences has its best NCC at p50 0.384, p90 0.554, p99 0.628, max 0.670; the 3
# frames of ddad_driving_triplet (dgp_scene02_front's frames resized to 1280 px, JPEG q92) score 0.99999, and those
# frames resized to 160 px and re-encoded at JPEG q30 0.9985. Neighbouring frames of a moving camera 0.1 s apart
# score 0.73-0.97 (kitti_odom_gray_51, kitti06_pair_0435, kitti_raw_sfnd_78); a still camera's frames (EuRoC
# static, a car stopped in kitti_raw_sfnd_78) score up to 1.0 and are the same frame by content. 0.98 lies 0.31
# above the highest unrelated frame, above the moving neighbours and 0.018 below the heaviest re-encoding tried.
MATCH_NCC = 0.98
# Passed as a clip's target rate: every source frame (no video stride, no bag or TUM subsampling;
# training.data.clips.ClipSpec.iter_stamped_frames).
ALL_FRAMES_RATE_HZ = math.inf
# The screening record of a scores file ``scores.csv`` is ``scores`` + this suffix, beside it (our own format).
SCREENING_RECORD_SUFFIX = ".holdout.json"
# Fingerprints compared per matrix product (bounds the memory of a long clip to a block of frames).
BLOCK_FRAMES = 256


def frame_fingerprint(image: np.ndarray) -> np.ndarray:
    """The fingerprint of one frame (see the module docstring).

    Args:
        image: ``H×W×3`` uint8 RGB or ``H×W`` grey frame, any size.

    Returns:
        ``FINGERPRINT_SIZE²`` float32 vector, zero-mean and unit-norm; all zeros for a frame without contrast.

    Raises:
        ValueError: ``image`` is neither ``H×W`` nor ``H×W×3``, or empty.
    """
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    elif image.ndim != 2:
        raise ValueError(f"expected an H×W×3 RGB or H×W grey frame, got shape {image.shape}")
    if image.size == 0:
        raise ValueError("empty frame")
    small = cv2.resize(image, (FINGERPRINT_SIZE, FINGERPRINT_SIZE), interpolation=cv2.INTER_AREA)
    vector = small.astype(np.float32).ravel()
    vector -= vector.mean()
    norm = float(np.linalg.norm(vector))
    # Below one grey level of standard deviation the frame is flat: nothing to match on.
    return vector / norm if norm >= math.sqrt(vector.size) else np.zeros_like(vector)


@dataclass(frozen=True)
class HoldoutIndex:
    """Fingerprints of every frame of the evaluation sequences.

    Attributes:
        sequences: the sequences' names (folder names), in order.
        frame_sequence: ``N`` int, index into ``sequences`` of each frame's sequence.
        fingerprints: ``N×FINGERPRINT_SIZE²`` float32 (:func:`frame_fingerprint`).
    """

    sequences: tuple[str, ...]
    frame_sequence: np.ndarray
    fingerprints: np.ndarray

    @classmethod
    def from_sequences(cls, paths: Sequence[str | Path]) -> HoldoutIndex:
        """Read every RGB frame of the TUM-layout sequences ``paths`` (sequence folders or folders of them, as
        ``ss3d_eval --sequences`` reads them: :func:`ss3d_core.io.tum_sequence.find_sequences`).

        Raises:
            FileNotFoundError: a path yields no sequence. ValueError: a sequence or a frame cannot be read, or two
                sequences share a folder name.
        """
        names, owners, fingerprints = [], [], []
        for folder in find_sequences(list(paths)):
            if folder.name in names:
                raise ValueError(f"two evaluation sequences are named {folder.name!r}")
            sequence = TumSequence.load(folder)
            fingerprints += [frame_fingerprint(sequence.read_rgb(i)) for i in range(len(sequence.rgb))]
            owners += [len(names)] * len(sequence.rgb)
            names.append(folder.name)
        dim = FINGERPRINT_SIZE * FINGERPRINT_SIZE
        LOG.info("hold-out: %d frames of %d evaluation sequences", len(owners), len(names))
        return cls(tuple(names), np.array(owners, np.int64),
                   np.stack(fingerprints) if fingerprints else np.zeros((0, dim), np.float32))


def clip_match_scores(frames: Iterable[np.ndarray], index: HoldoutIndex) -> tuple[np.ndarray, np.ndarray]:
    """NCC of a clip's frames against the evaluation frames, reduced both ways.

    Args:
        frames: the clip's frames (any size, :func:`frame_fingerprint`'s input), streamed.
        index: the evaluation frames.

    Returns:
        ``(best_per_clip_frame, best_per_evaluation_frame)``: ``M`` float32, each clip frame's highest NCC over all
        evaluation frames (``-1`` without evaluation frames), and ``N`` float32, each evaluation frame's highest NCC
        over the clip's frames (``-1`` for an empty clip).
    """
    best_eval = np.full(len(index.fingerprints), -1.0, np.float32)
    best_clip: list[np.ndarray] = []
    block: list[np.ndarray] = []

    def flush() -> None:
        scores = np.stack(block) @ index.fingerprints.T  # block × N
        best_clip.append(scores.max(axis=1) if scores.shape[1] else np.full(len(block), -1.0, np.float32))
        if len(best_eval):
            np.maximum(best_eval, scores.max(axis=0), out=best_eval)
        block.clear()

    for frame in frames:
        block.append(frame_fingerprint(frame))
        if len(block) == BLOCK_FRAMES:
            flush()
    if block:
        flush()
    return (np.concatenate(best_clip) if best_clip else np.zeros(0, np.float32)), best_eval


@dataclass(frozen=True)
class Overlap:
    """Evaluation frames a clip holds.

    Attributes:
        sequence: the evaluation sequence's name.
        shared_frames: how many of its frames the clip holds (NCC >= the threshold with some frame of the clip).
        best_ncc: the highest NCC among them.
    """

    sequence: str
    shared_frames: int
    best_ncc: float


def find_overlaps(clip: ClipSpec, index: HoldoutIndex, threshold: float = MATCH_NCC) -> list[Overlap]:
    """The evaluation sequences that share frames with ``clip``, every frame of it read (:data:`ALL_FRAMES_RATE_HZ`,
    through :meth:`training.data.clips.ClipSpec.iter_frames`); empty when none does.

    Raises:
        ValueError, FileNotFoundError, OSError: the clip cannot be read (as :meth:`ClipSpec.iter_stamped_frames`).
    """
    _, best_eval = clip_match_scores(clip.iter_frames(ALL_FRAMES_RATE_HZ), index)
    shared = best_eval >= threshold
    overlaps = []
    for k, name in enumerate(index.sequences):
        mine = shared & (index.frame_sequence == k)
        if mine.any():
            overlaps.append(Overlap(name, int(mine.sum()), float(best_eval[mine].max())))
    return overlaps


def describe_overlaps(overlaps: Sequence[Overlap]) -> str:
    """A held-out clip's overlaps in words, for its log line: ``"3 frames with evaluation sequence X (NCC up to
    0.9999), ..."``."""
    return ", ".join(f"{o.shared_frames} frames with evaluation sequence {o.sequence} (NCC up to {o.best_ncc:.4f})"
                     for o in overlaps)


def overlap_counts(overlaps: Sequence[Overlap]) -> str:
    """``"sequence:shared_frames"`` per overlap, ``;``-separated: the ``holdout`` column of ``scores.csv`` and the
    reason of the SfM summary's ``held_out`` rows."""
    return ";".join(f"{o.sequence}:{o.shared_frames}" for o in overlaps)


@dataclass(frozen=True)
class Screening:
    """Clips sorted by the guard (:func:`screen_clips`).

    Attributes:
        kept: the clips that share no frame with an evaluation sequence, in their input order.
        held_out: clip name -> its overlaps (never trained on, never labelled).
        unreadable: clip name -> why it could not be read; left out too (a clip the guard cannot read in full is not
            known to be clean).
    """

    kept: list[ClipSpec]
    held_out: dict[str, list[Overlap]]
    unreadable: dict[str, str]


def screen_clips(specs: Sequence[ClipSpec], index: HoldoutIndex, threshold: float = MATCH_NCC) -> Screening:
    """Sort ``specs`` into the clips that may train and those held out (:func:`find_overlaps` on each), with one
    warning per held-out clip naming the sequences and the shared frame counts and one per unreadable clip.

    Args:
        specs: the clips.
        index: the evaluation frames (:meth:`HoldoutIndex.from_sequences`).
        threshold: :data:`MATCH_NCC` unless told.

    Returns:
        The :class:`Screening`; nothing raises for a single clip.
    """
    kept, held_out, unreadable = [], {}, {}
    for spec in specs:
        try:
            overlaps = find_overlaps(spec, index, threshold)
        except (ValueError, FileNotFoundError, OSError) as err:
            LOG.warning("%s: cannot be checked against the evaluation hold-out, left out: %s", spec.name, err)
            unreadable[spec.name] = str(err)
            continue
        if overlaps:
            LOG.warning("%s: held out, never trained on: shares %s", spec.name, describe_overlaps(overlaps))
            held_out[spec.name] = overlaps
        else:
            kept.append(spec)
    return Screening(kept, held_out, unreadable)


def screen_against(specs: Sequence[ClipSpec], sequences: Sequence[str | Path]) -> Screening:
    """:func:`screen_clips` against the evaluation sequences in ``sequences`` (TUM layout or folders of them,
    :meth:`HoldoutIndex.from_sequences`); with no sequences every clip is kept and nothing is read.

    Raises:
        ValueError: a sequence cannot be read (missing, malformed or unreadable files; the message says which).
    """
    if not sequences:
        return Screening(list(specs), {}, {})
    try:
        index = HoldoutIndex.from_sequences(sequences)
    except OSError as err:
        raise ValueError(str(err)) from err
    return screen_clips(specs, index)


def screening_record_path(scores: str | Path) -> Path:
    """Where the screening record of the scores file ``scores`` lies: ``scores.holdout.json`` beside ``scores.csv``
    (:data:`SCREENING_RECORD_SUFFIX`)."""
    scores = Path(scores)
    return scores.with_name(scores.stem + SCREENING_RECORD_SUFFIX)


def write_screening_record(scores: str | Path, sequences: Sequence[str | Path]) -> Path:
    """Record beside ``scores`` the evaluation sequences its clips were screened against (:func:`screen_against`).

    Args:
        scores: the scores file written (``scores.csv``).
        sequences: the paths given to :func:`screen_against` (sequence folders or folders of them); stored resolved
            (absolute, links followed), an empty list when nothing was screened.

    Returns:
        The record's path (:func:`screening_record_path`): JSON ``{"holdout_sequences": [path, ...]}``.
    """
    path = screening_record_path(scores)
    path.write_text(json.dumps({"holdout_sequences": [str(Path(s).resolve()) for s in sequences]}, indent=1) + "\n")
    return path


def screening_gap(scores: str | Path, sequences: Sequence[str | Path]) -> str | None:
    """Why the clips of the scores file ``scores`` are not known to be screened against every path of ``sequences``;
    ``None`` when they are: each path, resolved, is one its record (:func:`write_screening_record`) names.

    A path is compared as given, not expanded: a sequence screened as part of its parent folder is not recognised
    when asked for alone (one more screening, never one too few). Nothing raises: a missing record (scores written
    before records existed) or an unreadable one is a reason.
    """
    path = screening_record_path(scores)
    if not path.is_file():
        return f"{path} is missing (scores written without a record of what they were screened against)"
    try:
        recorded = json.loads(path.read_text())["holdout_sequences"]
        if not isinstance(recorded, list) or not all(isinstance(p, str) for p in recorded):
            raise TypeError(f"holdout_sequences is not a list of paths: {recorded!r}")
        screened = {Path(p) for p in recorded}
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"{path} cannot be read: {err!r}"
    missing = [str(s) for s in sequences if Path(s).resolve() not in screened]
    if missing:
        return f"{path} does not name {missing} (screened against {sorted(map(str, screened)) or 'none'})"
    return None
