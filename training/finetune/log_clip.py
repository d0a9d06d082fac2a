"""A robot log as one clip of the corpus stage: a clip folder, the hold-out by time, MVS scores per stretch, refusal.

The bag is linked into ``<out>/clip/<name>/bag`` with a ``clips.csv`` row of kind ``bag`` (:mod:`training.data.clips`),
so the cache, the DataModule and the checks read it as any other clip. The frames at the training rate are decoded once
(as the node decodes them, :func:`ss3d_core.io.bag_images.iter_bag_frames`), the last part by time is held back, the
rest is cut into stretches at shot cuts (:mod:`training.data.shots`) and every
:data:`training.finetune.recipe.STRETCH_S` seconds, and each stretch is scored by the MVS proxy
(:func:`training.corpus.mvs.score_segments`). ``scores.csv`` lists only the training stretches, so the held-back frames
never train (:func:`training.corpus.curriculum.kept_segments`).
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ss3d_core.geometry.pair_signal import analysis_frame, pair_gap
from training.corpus.mvs import ClipSignal, score_segments
from training.data.clips import ClipSpec, read_clip_index
from training.data.shots import content_scores, shot_segments

__all__ = ["LogClip", "NotEnoughMotion", "prepare_log_clip"]


class NotEnoughMotion(ValueError):
    """The log has too little usable motion (or is too short) to fine-tune on; the message says how much it found."""


@dataclass(frozen=True)
class LogClip:
    """The log as a clip, split and scored.

    Attributes:
        spec: the clip (kind ``bag``) in ``root``.
        root: the corpus folder (with ``clips.csv``) to hand to the DataModule.
        scores_csv: MVS scores of the training stretches (``scores.csv`` format of :mod:`training.corpus.mvs_cli`).
        stamps_s: header stamps of the frames at the training rate, seconds.
        holdout_start: index (at the training rate) of the first held-back frame.
        stretches: ``(start, end, mvs_score)`` of the training stretches, frame indices ``[start, end)``.
        usable_triplets: training triplets inside stretches that pass the threshold.
        size: ``(width, height)`` of the frames, pixels.
    """

    spec: ClipSpec
    root: Path
    scores_csv: Path
    stamps_s: list[float]
    holdout_start: int
    stretches: list[tuple[int, int, float]]
    usable_triplets: int
    size: tuple[int, int]

    @property
    def holdout_start_s(self) -> float:
        """Stamp of the first held-back frame, seconds."""
        return self.stamps_s[self.holdout_start]


def _link_bag(bag: Path, root: Path, name: str, topic: str | None) -> ClipSpec:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "bag"
    if link.is_symlink() or link.exists():
        if link.resolve() != bag.resolve():
            raise FileExistsError(f"{link} points at {link.resolve()}, not {bag}: use another --out")
    else:
        os.symlink(bag.resolve(), link, target_is_directory=bag.is_dir())
    (root / "clips.csv").write_text(f"name,kind,label,consecutive,licence,topic\n{name},bag,,True,own,{topic or ''}\n")
    (spec,) = read_clip_index(root)
    return spec


def holdout_index(stamps_s: list[float], fraction: float) -> int:
    """Index of the first frame of the last ``fraction`` of the log by elapsed time (time that goes backwards, a
    restarted log, counts as no time)."""
    if not 0 < fraction < 1:
        raise ValueError(f"hold-out fraction must be in (0, 1), got {fraction}")
    elapsed = np.concatenate([[0.0], np.cumsum(np.clip(np.diff(stamps_s), 0.0, None))])
    return int(np.searchsorted(elapsed, (1.0 - fraction) * elapsed[-1], side="left"))


def _stretches(segments: list[tuple[int, int]], end: int, length: int) -> list[tuple[int, int]]:
    """Shot segments cut at ``end`` and into pieces of ``length`` frames (a last piece under 3 frames, too short for
    a triplet, joins the previous one)."""
    pieces = []
    for a, b in segments:
        b = min(b, end)
        for s in range(a, b, length):
            e = min(s + length, b)
            if pieces and e - s < 3 and pieces[-1][1] == s:
                pieces[-1] = (pieces[-1][0], e)
            elif e - s >= 2:
                pieces.append((s, e))
    return pieces


def _write_scores(path: Path, name: str, rows: list[tuple[str, int, int, ClipSignal]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        fields = ["name", "segment", "start", "end", *rows[0][3].as_row()]
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for segment, start, end, signal in rows:
            writer.writerow({"name": name, "segment": segment, "start": start, "end": end, **signal.as_row()})


def prepare_log_clip(
    bag: Path, topic: str | None, out: Path, target_rate_hz: float, holdout_fraction: float, stretch_s: float,
    min_score: float, min_usable_triplets: int, min_holdout_frames: int,
) -> LogClip:
    """Link the bag as a clip under ``out/clip``, hold back its end, score its stretches, and refuse a log without
    enough usable motion (see the module docstring).

    Raises:
        NotEnoughMotion: fewer than ``min_usable_triplets`` training triplets lie in stretches scoring at least
            ``min_score``, or the held-back part has fewer than ``min_holdout_frames`` frames; the message gives the
            counts and the stretch scores.
        ValueError, ss3d_core.io.bag_errors.BagReadError: the bag or topic cannot be read, or the frame size changes.
    """
    name = "log"
    spec = _link_bag(bag, out / "clip", name, topic)
    stamps, frames, size = [], [], (0, 0)
    for stamp, rgb in spec.iter_stamped_frames(target_rate_hz):
        if frames and rgb.shape[:2] != size[::-1]:
            raise ValueError(f"{bag}: frame size changes from {size} to {rgb.shape[1::-1]}")
        size = (rgb.shape[1], rgb.shape[0])
        stamps.append(float(stamp))
        frames.append(analysis_frame(rgb))
    # The shortest log that could pass: the usable triplets (and their two end frames) before the hold-out.
    shortest = max(min_holdout_frames + 3, math.ceil((min_usable_triplets + 2) / (1.0 - holdout_fraction)))
    if len(frames) < shortest:
        duration = stamps[-1] - stamps[0] if stamps else 0.0
        raise NotEnoughMotion(f"refused: {bag} is too short to fine-tune on: {len(frames)} frames ({duration:.1f} s) "
                              f"at {target_rate_hz:g} Hz, where at least {shortest} are needed ({min_usable_triplets} "
                              f"training triplets with motion, and the held-back last {holdout_fraction:.0%})")
    holdout = holdout_index(stamps, holdout_fraction)
    if len(frames) - holdout < min_holdout_frames:
        raise NotEnoughMotion(f"refused: the held-back last {holdout_fraction:.0%} of {bag} has "
                              f"{len(frames) - holdout} frames; the report needs {min_holdout_frames}")
    rate = float(1.0 / np.median(np.diff(stamps))) if np.median(np.diff(stamps)) > 0 else target_rate_hz
    segments = shot_segments(content_scores(frames), len(frames))
    pieces = _stretches(segments, holdout, max(3, round(stretch_s * rate)))
    whole, signals = score_segments(frames, pieces, pair_gap(rate, True))
    rows = [("all", 0, holdout, whole)] + [(str(i), a, b, s) for i, ((a, b), s) in enumerate(zip(pieces, signals))]
    scores_csv = out / "mvs" / "scores.csv"
    _write_scores(scores_csv, name, rows)
    stretches = [(a, b, s.mvs_score) for (a, b), s in zip(pieces, signals)]
    usable = sum(max(0, b - a - 2) for a, b, score in stretches if score >= min_score)
    clip = LogClip(spec, out / "clip", scores_csv, stamps, holdout, stretches, usable, size)
    if usable < min_usable_triplets:
        train_s = stamps[holdout - 1] - stamps[0]
        usable_frames = sum(b - a for a, b, score in stretches if score >= min_score)
        detail = ", ".join(f"{stamps[a] - stamps[0]:.1f}-{stamps[b - 1] - stamps[0]:.1f} s: {score:.3f}"
                           for a, b, score in stretches)
        parallax = whole.parallax_deg
        raise NotEnoughMotion(
            f"refused: {bag} has too little usable motion to fine-tune on: {usable_frames} of its {holdout} training "
            f"frames ({train_s:.1f} s at {rate:.1f} Hz, before the held-back last {holdout_fraction:.0%}) lie in "
            f"stretches whose MVS score reaches {min_score:g}, i.e. {usable} training triplets where "
            f"{min_usable_triplets} are needed. The camera is still in {whole.static_fraction:.0%} of the sampled "
            f"pairs; median parallax {'n/a' if math.isnan(parallax) else f'{parallax:.2f}°'} (1° counts fully). "
            f"Stretch scores: {detail}. Record a log in which the camera translates (drives, walks), not one in "
            f"which it stands still or only turns in place.")
    return clip
