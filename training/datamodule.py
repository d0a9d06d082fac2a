"""Frame-triplet data for self-supervised training: (t-1, t, t+1) samples from clips, resized to the network size."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from training.augmentation import check_crop_fraction, crop_resize_triplet, flip_triplet, sample_crop_window
from training.clips import ClipSpec, read_clip_index
from training.flow_verification import sparse_matches, verify_pair_masks
from training.optical_flow import pair_flows

LOG = logging.getLogger(__name__)

# Videos are subsampled to about this rate so that consecutive samples carry parallax (KITTI-style 10 Hz).
DEFAULT_TARGET_RATE_HZ = 10.0


@dataclass(frozen=True)
class ClipFrames:
    """Decoded frames of one clip at the training size, with the optical flow between consecutive frames.

    Attributes:
        frames: ``N×H×W×3`` uint8 RGB.
        flow_forward, flow_backward: ``N-1×H×W×2`` float16 pixels, frame ``i`` -> ``i+1`` and ``i+1`` -> ``i``.
        valid_forward, valid_backward: ``N-1×H×W`` bool forward-backward consistency masks.
    """

    name: str
    frames: np.ndarray
    flow_forward: np.ndarray
    valid_forward: np.ndarray
    flow_backward: np.ndarray
    valid_backward: np.ndarray


def load_clip_frames(
    clip: ClipSpec, height: int, width: int, target_rate_hz: float, flow_match_check: bool = True
) -> ClipFrames:
    """Decode and resize (area interpolation) all frames of ``clip`` to ``width×height`` and compute their flows.

    With ``flow_match_check`` each pair direction's flow mask is cleared unless SIFT matches between the frames, taken
    at their own resolution, confirm the flow (:mod:`training.flow_verification`); frames are decoded once either way.
    """
    frames, matches, previous = [], [], None
    for rgb in clip.iter_frames(target_rate_hz):
        if flow_match_check and previous is not None:
            matches.append(sparse_matches(previous, rgb, width, height))
        previous = rgb
        frames.append(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
    if len(frames) < 2:
        stacked = np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8)
        empty = np.zeros((0, height, width, 2), np.float16)
        return ClipFrames(clip.name, stacked, empty, empty[..., 0] > 0, empty, empty[..., 0] > 0)
    stacked = np.stack(frames)
    fwd, fwd_ok, bwd, bwd_ok = pair_flows(stacked)
    if flow_match_check:
        fwd_ok, bwd_ok, cleared = verify_pair_masks(fwd, fwd_ok, bwd, bwd_ok, matches)
        LOG.info("clip %s: %d of %d pair directions' flow not confirmed by SIFT matches, masked out",
                 clip.name, cleared, 2 * len(fwd))
    return ClipFrames(clip.name, stacked, fwd, fwd_ok, bwd, bwd_ok)


class TripletDataset(Dataset):
    """Samples ``(t-1, t, t+1)`` from in-memory clips; frame ``t`` is the target.

    Items are dicts: ``frames`` ``3×3×H×W`` float32 RGB in [0, 1] ordered (previous, target, next); ``flows``
    ``2×2×H×W`` float32 observed flow of the target towards (previous, next) in pixels; ``flow_valid`` ``2×1×H×W``
    float32 masks; ``clip`` name. When ``augment`` is set, a random resized crop (whole sample, see
    :mod:`training.augmentation`; only when ``min_crop_fraction < 1``) and a horizontal flip (whole sample, p = 0.5)
    are applied. Random draws come from torch's generator, so ``seed_everything`` makes them reproducible.
    """

    def __init__(
        self, clips: list[ClipFrames], indices: list[tuple[int, int]], augment: bool, min_crop_fraction: float = 1.0
    ):
        check_crop_fraction(min_crop_fraction, "min_crop_fraction")
        self.clips = clips
        self.indices = indices
        self.augment = augment
        self.min_crop_fraction = min_crop_fraction

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, object]:
        clip_i, t = self.indices[i]
        clip = self.clips[clip_i]
        frames = clip.frames[t - 1 : t + 2]
        # Target t towards t-1 is the backward flow of pair t-1; towards t+1 the forward flow of pair t.
        flows = [clip.flow_backward[t - 1].astype(np.float32), clip.flow_forward[t].astype(np.float32)]
        valid = [clip.valid_backward[t - 1], clip.valid_forward[t]]
        if self.augment and self.min_crop_fraction < 1.0:
            rng = np.random.default_rng(int(torch.randint(2**31 - 1, (1,)).item()))
            window = sample_crop_window(*frames.shape[1:3], self.min_crop_fraction, rng)
            frames, flows, valid = crop_resize_triplet(frames, flows, valid, window)
        if self.augment and torch.rand(1).item() < 0.5:
            frames, flows, valid = flip_triplet(frames, flows, valid)
        tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
        return {
            "frames": tensor,
            "flows": torch.from_numpy(np.ascontiguousarray(np.stack(flows))).permute(0, 3, 1, 2),
            "flow_valid": torch.from_numpy(np.ascontiguousarray(np.stack(valid))).float().unsqueeze(1),
            "clip": clip.name,
        }


def split_indices(clips: list[ClipFrames], val_fraction: float) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Triplet targets per clip; the last ``val_fraction`` of each clip's targets (at least one, when the clip has
    two or more) is held out for validation, so validation frames are never training targets."""
    train, val = [], []
    for ci, clip in enumerate(clips):
        targets = list(range(1, len(clip.frames) - 1))
        n_val = int(round(len(targets) * val_fraction))
        if val_fraction > 0 and len(targets) >= 2:
            n_val = max(1, n_val)
        cut = len(targets) - n_val
        train += [(ci, t) for t in targets[:cut]]
        val += [(ci, t) for t in targets[cut:]]
    return train, val


class ClipDataModule(L.LightningDataModule):
    """Lightning DataModule over a clip corpus folder.

    Args:
        root: corpus folder with ``clips.csv``.
        labels: keep clips whose label is listed (the MVS-based filter replaces this in the full pipeline).
        clips: keep only these clip names (a domain expert's corpus); ``None`` keeps every clip. A name that is not
            in ``clips.csv`` is an error.
        consecutive_only: keep only clips of consecutive video frames.
        height, width: training size in pixels (the network input size).
        target_rate_hz: subsampling target for video clips.
        batch_size, num_workers: loader settings.
        val_fraction: per-clip held-out tail for validation.
        min_crop_fraction: training samples are random resized crops covering ``U(min_crop_fraction, 1)`` of the
            width and, independently, of the height (1 disables cropping); validation samples are never cropped.
        flow_match_check: mask out the flow of pairs that SIFT matches do not confirm
            (:mod:`training.flow_verification`); stages 1 to 9 ran without it (their configs pin ``false``).
    """

    def __init__(
        self,
        root: str = "../shared/data/web_clips",
        labels: list[str] | None = None,
        clips: list[str] | None = None,
        consecutive_only: bool = False,
        height: int = 192,
        width: int = 320,
        target_rate_hz: float = DEFAULT_TARGET_RATE_HZ,
        batch_size: int = 8,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        min_crop_fraction: float = 1.0,
        flow_match_check: bool = True,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.clips: list[ClipFrames] = []
        self.train_set: TripletDataset | None = None
        self.val_set: TripletDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        """Decode the selected clips once into memory."""
        if self.clips:
            return
        hp = self.hparams
        labels = set(hp.labels or ["translating"])
        index = read_clip_index(Path(hp.root))
        if hp.clips is not None:
            missing = sorted(set(hp.clips) - {c.name for c in index})
            if missing:
                raise ValueError(f"clips not in {hp.root}/clips.csv: {missing}")
        specs = [
            c for c in index
            if c.label in labels and (c.consecutive or not hp.consecutive_only)
            and (hp.clips is None or c.name in hp.clips)
        ]
        if hp.clips is not None:
            filtered = sorted(set(hp.clips) - {c.name for c in specs})
            if filtered:
                LOG.warning("data.clips %s left out by labels %s / consecutive_only %s", filtered, sorted(labels),
                            hp.consecutive_only)
        for spec in specs:
            clip = load_clip_frames(spec, hp.height, hp.width, hp.target_rate_hz, hp.flow_match_check)
            if len(clip.frames) < 3:
                LOG.warning("clip %s has %d frames; a triplet needs 3, skipped", spec.name, len(clip.frames))
                continue
            self.clips.append(clip)
            LOG.info("clip %s: %d frames", spec.name, len(clip.frames))
        if not self.clips:
            raise RuntimeError(f"no usable clip in {hp.root} with labels {sorted(labels)}")
        train, val = split_indices(self.clips, hp.val_fraction)
        self.train_set = TripletDataset(self.clips, train, augment=True, min_crop_fraction=hp.min_crop_fraction)
        self.val_set = TripletDataset(self.clips, val, augment=False)

    def clip_names(self) -> list[str]:
        """Names of the clips in use (for checkpoint metadata)."""
        return [c.name for c in self.clips]

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True, drop_last=True,
                          num_workers=self.hparams.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size, shuffle=False,
                          num_workers=self.hparams.num_workers)
