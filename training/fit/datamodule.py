"""Frame-triplet data for self-supervised training: (t-1, t, t+1) samples from the training cache of a clip corpus.

The corpus stage (GUIDE §2): the clip index (:mod:`training.data.clips`), MVS scores (:mod:`training.corpus.mvs_cli`),
MVS filtering and curriculum (:mod:`training.corpus.curriculum`), and the on-disk cache
(:mod:`training.corpus.cache`) that ``prepare_data`` fills once and every run, stage and DDP rank memory-maps.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from training.corpus.cache import build_entry, load_entry
from training.corpus.curriculum import (
    DEFAULT_MVS_MIN_SCORE,
    CurriculumSampler,
    SegmentScore,
    kept_segments,
    read_segment_scores,
    window_score,
)
from training.data.augmentation import (
    augmented_intrinsics,
    check_crop_fraction,
    crop_resize_matrix,
    crop_resize_triplet,
    flip_matrix,
    flip_triplet,
    sample_crop_window,
)
from training.data.batch import TripletSample
from training.data.clip_frames import ClipFrames
from training.data.clips import DEFAULT_TARGET_RATE_HZ, ClipSpec, read_clip_indices
from training.data.holdout import screen_against, screening_gap
from training.data.shots import triplet_targets
from training.labels.triangulated_labels import transform_fundamental
from training.sfm.store import SfmLabels, load_sfm
from training.sfm.triplet_labels import triplet_labels

LOG = logging.getLogger(__name__)

# What ClipDataModule.select_clips returns: the clips, and with MVS scores each clip's kept segments and score rows.
ClipSelection = tuple[list[ClipSpec], dict[str, list[tuple[int, int]]] | None, dict[str, list[SegmentScore]] | None]
# Default cache folder, relative to the working directory (make and the configs run from the repository root).
DEFAULT_CACHE_DIR = "out/cache"


class TripletDataset(Dataset):
    """Samples ``(t-1, t, t+1)`` from clips (in memory or memory-mapped); frame ``t`` is the target.

    Items are :class:`training.data.batch.TripletSample` dicts. When ``augment`` is set, a random resized crop (whole
    sample, see :mod:`training.data.augmentation`; only when ``min_crop_fraction < 1``) and a horizontal flip (whole
    sample, p = 0.5) are applied. Random draws come from torch's generator, so ``seed_everything`` makes them
    reproducible. With ``known_intrinsics`` (normalised ``(fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H)`` of the uncropped
    frame, e.g. a bag's CameraInfo), each item also carries ``intrinsics``: that K mapped through the sample's crop and
    flip, normalised at the training size (4 floats). With ``source_sizes`` (each clip's decoded ``(width, height)``
    before the resize to the training size), each item carries ``pixel_aspect``: ``fy / fx`` in pixels of the item's
    frames for a camera with square pixels, through the resize and the sample's crop
    (:func:`ss3d_core.camera.square_pixel_intrinsics`, the module's ``square_pixels``). With ``sfm`` (each clip's
    SfM teacher labels, or ``None`` for a clip without), each item carries the ``sfm_*`` labels of
    :mod:`training.sfm.triplet_labels`, mapped through the item's crop and flip. Every item carries ``crop_scale``, the
    crop's magnification of the frame (1 without a crop).
    """

    def __init__(
        self, clips: list[ClipFrames], indices: list[tuple[int, int]], augment: bool, min_crop_fraction: float = 1.0,
        known_intrinsics: list[float] | None = None, source_sizes: list[tuple[int, int]] | None = None,
        sfm: list[SfmLabels | None] | None = None,
    ):
        check_crop_fraction(min_crop_fraction, "min_crop_fraction")
        if source_sizes is not None and len(source_sizes) != len(clips):
            raise ValueError(f"{len(source_sizes)} source sizes for {len(clips)} clips")
        if sfm is not None and len(sfm) != len(clips):
            raise ValueError(f"{len(sfm)} SfM label sets for {len(clips)} clips")
        self.clips = clips
        self.indices = indices
        self.augment = augment
        self.min_crop_fraction = min_crop_fraction
        self.known_intrinsics = known_intrinsics
        self.source_sizes = source_sizes
        self.sfm = sfm

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> TripletSample:
        clip_i, t = self.indices[i]
        clip = self.clips[clip_i]
        frames = clip.frames[t - 1 : t + 2]
        # Target t towards t-1 is the backward flow of pair t-1; towards t+1 the forward flow of pair t.
        flows = [clip.flow_backward[t - 1].astype(np.float32), clip.flow_forward[t].astype(np.float32)]
        valid = [clip.valid_backward[t - 1], clip.valid_forward[t]]
        fundamental = np.stack([clip.fundamental_backward[t - 1], clip.fundamental_forward[t]]).astype(np.float64)
        h, w = frames.shape[1:3]
        A = np.eye(3)  # the pixel map of the augmentation, for the cached fundamental matrices
        if self.augment and self.min_crop_fraction < 1.0:
            rng = np.random.default_rng(int(torch.randint(2**31 - 1, (1,)).item()))
            window = sample_crop_window(h, w, self.min_crop_fraction, rng)
            frames, flows, valid = crop_resize_triplet(frames, flows, valid, window)
            A = crop_resize_matrix(window, h, w) @ A
        if self.augment and torch.rand(1).item() < 0.5:
            frames, flows, valid = flip_triplet(frames, flows, valid)
            A = flip_matrix(w) @ A
        fundamental = np.stack([transform_fundamental(F, A) for F in fundamental])
        # np.array copies: memory-mapped cache pages are read-only.
        tensor = torch.from_numpy(np.array(frames)).permute(0, 3, 1, 2).float() / 255.0
        sample: TripletSample = {
            "frames": tensor,
            "flows": torch.from_numpy(np.ascontiguousarray(np.stack(flows))).permute(0, 3, 1, 2),
            "flow_valid": torch.from_numpy(np.ascontiguousarray(np.stack(valid))).float().unsqueeze(1),
            "fundamental": torch.from_numpy(fundamental / np.abs(fundamental).max(axis=(1, 2), keepdims=True)
                                            .clip(min=1e-300)).float(),
            "inlier_fraction": torch.tensor([clip.inliers_backward[t - 1], clip.inliers_forward[t]]),
            "clip": clip.name,
            "crop_scale": torch.tensor([abs(A[0, 0]), abs(A[1, 1])], dtype=torch.float32),
        }
        if self.known_intrinsics is not None:
            sample["intrinsics"] = torch.from_numpy(augmented_intrinsics(self.known_intrinsics, A, w, h)).float()
        if self.source_sizes is not None:
            source_w, source_h = self.source_sizes[clip_i]
            # fy/fx of the resize (h / source_h) / (w / source_w), times the crop-resize's y/x scale ratio.
            resized = (h * source_w) / (w * source_h)
            sample["pixel_aspect"] = torch.tensor(resized * abs(A[1, 1]) / abs(A[0, 0]), dtype=torch.float32)
        if self.sfm is not None:
            sample.update(triplet_labels(self.sfm[clip_i], t, A, w, h))
        return sample


def split_indices(
    clips: list[ClipFrames], val_fraction: float, kept: list[list[tuple[int, int]]] | None = None
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Triplet targets per clip (:func:`training.data.shots.triplet_targets` over the clip's shot segments and, with
    ``kept``, that clip's kept ``[start, end)`` spans), as ``(clip index, t)``. The last ``val_fraction`` of each clip's
    targets (at least one, when the clip has two or more) is held out for validation, so validation frames are never
    training targets."""
    train, val = [], []
    for ci, clip in enumerate(clips):
        targets = triplet_targets(clip.segments, len(clip.frames), kept[ci] if kept is not None else None)
        n_val = int(round(len(targets) * val_fraction))
        if val_fraction > 0 and len(targets) >= 2:
            n_val = max(1, n_val)
        cut = len(targets) - n_val
        train += [(ci, t) for t in targets[:cut]]
        val += [(ci, t) for t in targets[cut:]]
    return train, val


class ClipDataModule(L.LightningDataModule):
    """Lightning DataModule over one or more clip corpus folders.

    Args:
        root: corpus folder(s) (:func:`training.data.clips.read_clip_index`: with a ``clips.csv`` or not).
        mvs_scores: ``scores.csv`` of the MVS proxy for these folders; when given, clips and segments are selected by
            their score (``mvs_min_score``) and ``labels`` is ignored.
        mvs_min_score: segments scoring below this do not train.
        curriculum_start_fraction, curriculum_ramp_epochs: the curriculum schedule over the windows' MVS scores
            (:class:`training.corpus.curriculum.CurriculumSampler`; needs ``mvs_scores``; defaults: uniform).
        labels: without ``mvs_scores``, keep clips whose human label is listed (stages 1 to 11 trained this way).
        holdout_sequences: the evaluation sequences (TUM layout or folders of them, as ``ss3d_eval --sequences``
            takes them): every selected clip sharing a frame with one of them is dropped
            (:func:`training.data.holdout.screen_against`, one log line each; a clip the guard cannot read is dropped
            too). With ``mvs_scores`` whose screening record (``scores.holdout.json`` beside them, written by
            ``python -m training mvs --holdout-sequences``) names every one of these paths, they are not checked
            again: the scores' ``holdout`` column holds those clips out (one log line). Otherwise (no record, scores
            of an older run, other sequences) the clips are screened here, with one warning saying why
            (:func:`training.data.holdout.screening_gap`). Neither this nor ``mvs_scores`` given: one warning that
            nothing is held out.
        clips: keep only these clip names (a domain expert's corpus); ``None`` keeps every clip. A name that is not
            in the index is an error.
        consecutive_only: keep only clips of consecutive video frames.
        height, width: training size in pixels (the network input size).
        target_rate_hz: subsampling target for video, bag and TUM clips.
        batch_size, num_workers: loader settings (``persistent_workers`` when ``num_workers > 0``).
        val_fraction: per-clip held-out tail for validation.
        min_crop_fraction: training samples are random resized crops covering ``U(min_crop_fraction, 1)`` of the
            width and, independently, of the height (1 disables cropping); validation samples are never cropped.
        flow_match_check: mask out the flow of pairs that SIFT matches do not confirm
            (:mod:`training.labels.flow_verification`); stages 1 to 9 ran without it (their configs pin ``false``).
        cache_dir: the training cache (:mod:`training.corpus.cache`).
        seed: curriculum sampling seed.
        known_intrinsics: calibrated normalised intrinsics ``(fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H)`` of every clip's
            frames (one camera, e.g. a bag's CameraInfo); samples then carry ``intrinsics`` (see
            :class:`TripletDataset`) for the module's ``use_known_intrinsics``. ``None``: no calibration.
        sfm_dir: the SfM teacher's store (``python -m training sfm --output``, :mod:`training.sfm.store`); samples
            then carry its ``sfm_*`` labels (clips without a usable reconstruction train on the self-supervised
            terms alone, with one log line each). ``None``: no SfM labels.
    """

    def __init__(
        self,
        root: str | list[str] = "../shared/data/web_clips",
        mvs_scores: str | None = None,
        mvs_min_score: float = DEFAULT_MVS_MIN_SCORE,
        curriculum_start_fraction: float = 1.0,
        curriculum_ramp_epochs: int = 0,
        labels: list[str] | None = None,
        holdout_sequences: str | list[str] | None = None,
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
        cache_dir: str = DEFAULT_CACHE_DIR,
        seed: int = 0,
        known_intrinsics: list[float] | None = None,
        sfm_dir: str | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.clips: list[ClipFrames] = []
        self.train_set: TripletDataset | None = None
        self.val_set: TripletDataset | None = None
        self.train_scores: np.ndarray | None = None
        self._selection: ClipSelection | None = None

    def _roots(self) -> list[str]:
        root = self.hparams.root
        return [root] if isinstance(root, str) else list(root)

    def select_clips(self) -> ClipSelection:
        """The clips to train on and, with MVS scores, each clip's kept segments and its rows of ``scores.csv``
        (read once here; ``None`` without ``mvs_scores``). Computed on the first call (the hold-out reads every frame
        of the clips), reused by the later ones.

        Raises:
            ValueError: ``clips`` names a clip the index does not have, or ``holdout_sequences`` cannot be read.
        """
        if self._selection is None:
            self._selection = self._select_clips()
        return self._selection

    def _select_clips(self) -> ClipSelection:
        hp = self.hparams
        index = read_clip_indices(self._roots())
        if hp.clips is not None:
            missing = sorted(set(hp.clips) - {c.name for c in index})
            if missing:
                raise ValueError(f"clips not in {self._roots()}: {missing}")
        kept = scores = None
        if hp.mvs_scores:
            scores = read_segment_scores(hp.mvs_scores)
            kept = kept_segments(scores, hp.mvs_min_score)
            selected = [c for c in index if c.name in kept]
            LOG.info("MVS filter (min score %.3f): %d of %d clips kept", hp.mvs_min_score, len(selected), len(index))
        else:
            labels = set(hp.labels or ["translating"])
            selected = [c for c in index if c.label in labels]
        specs = [c for c in selected
                 if (c.consecutive or not hp.consecutive_only) and (hp.clips is None or c.name in hp.clips)]
        if hp.clips is not None:
            filtered = sorted(set(hp.clips) - {c.name for c in specs})
            if filtered:
                LOG.warning("data.clips %s left out by the MVS filter / labels / consecutive_only", filtered)
        return self._apply_holdout(specs), kept, scores

    def _apply_holdout(self, specs: list[ClipSpec]) -> list[ClipSpec]:
        """``specs`` less the clips the evaluation hold-out drops (see ``holdout_sequences``)."""
        hp = self.hparams
        sequences = hp.holdout_sequences
        if not sequences:
            if not hp.mvs_scores:
                LOG.warning("no evaluation hold-out: clips selected by label are not checked against the evaluation "
                            "sequences; set data.holdout_sequences (or data.mvs_scores from python -m training mvs "
                            "--holdout-sequences) so that none of their frames trains")
            return specs
        paths = [sequences] if isinstance(sequences, str) else list(sequences)
        if hp.mvs_scores:
            gap = screening_gap(hp.mvs_scores, paths)
            if gap is None:
                LOG.info("data.holdout_sequences not checked again: the MVS scores were screened against them, "
                         "their holdout column holds out clips")
                return specs
            LOG.warning("data.holdout_sequences checked here: the MVS scores are not known to be screened against "
                        "them: %s", gap)
        try:
            screening = screen_against(specs, paths)
        except ValueError as err:
            raise ValueError(f"data.holdout_sequences {sequences}: {err} (null trains without the evaluation "
                             "hold-out)") from err
        LOG.info("evaluation hold-out: %d of %d clips kept", len(screening.kept), len(specs))
        return screening.kept

    def prepare_data(self) -> None:
        """Build the cache entries of the selected clips that are missing (once, on one process per machine)."""
        hp = self.hparams
        specs, _, _ = self.select_clips()
        for k, spec in enumerate(specs, 1):
            try:
                folder, built = build_entry(spec, Path(hp.cache_dir), hp.height, hp.width, hp.target_rate_hz,
                                            hp.flow_match_check)
            except (ValueError, FileNotFoundError, OSError) as err:
                LOG.warning("clip %s cannot be read, skipped: %s", spec.name, err)
                continue
            LOG.info("[%d/%d] cache %s: %s", k, len(specs), "built" if built else "hit", folder)

    def setup(self, stage: str | None = None) -> None:
        """Memory-map the selected clips from the cache (building entries ``prepare_data`` did not) and index their
        triplets."""
        if self.clips:
            return
        hp = self.hparams
        specs, kept, scores = self.select_clips()
        spans, names, sizes, sfm = [], [], [], []
        for spec in specs:
            try:  # a hit when prepare_data ran (Lightning's fit does); built here otherwise
                folder, _ = build_entry(spec, Path(hp.cache_dir), hp.height, hp.width, hp.target_rate_hz,
                                        hp.flow_match_check)
            except (ValueError, FileNotFoundError, OSError) as err:
                LOG.warning("clip %s cannot be read, skipped: %s", spec.name, err)
                continue
            clip = load_entry(folder)
            try:
                size = spec.frame_size(hp.target_rate_hz)
            except (ValueError, FileNotFoundError, OSError) as err:
                LOG.warning("clip %s: first frame cannot be read, skipped: %s", spec.name, err)
                continue
            if len(clip.frames) < 3:
                LOG.warning("clip %s has %d frames; a triplet needs 3, skipped", spec.name, len(clip.frames))
                continue
            self.clips.append(clip)
            sfm.append(self._sfm_labels(spec, len(clip.frames)) if hp.sfm_dir else None)
            sizes.append(size)
            names.append(spec.name)
            spans.append(kept[spec.name] if kept is not None else [(0, len(clip.frames))])
        if not self.clips:
            raise RuntimeError(f"no usable clip in {self._roots()} (MVS scores: {hp.mvs_scores}, labels: {hp.labels})")
        train, val = split_indices(self.clips, hp.val_fraction, spans)
        labels = sfm if hp.sfm_dir else None
        if labels is not None:
            LOG.info("SfM labels for %d of %d clips (%s)", sum(x is not None for x in labels), len(labels), hp.sfm_dir)
        self.train_set = TripletDataset(self.clips, train, augment=True, min_crop_fraction=hp.min_crop_fraction,
                                        known_intrinsics=hp.known_intrinsics, source_sizes=sizes, sfm=labels)
        self.val_set = TripletDataset(self.clips, val, augment=False, known_intrinsics=hp.known_intrinsics,
                                      source_sizes=sizes, sfm=labels)
        if scores is not None:
            self.train_scores = np.array([window_score(scores[names[ci]], t) or 0.0 for ci, t in train])
        LOG.info("%d clips, %d training and %d validation triplets", len(self.clips), len(train), len(val))

    def _sfm_labels(self, spec: ClipSpec, n_frames: int) -> SfmLabels | None:
        """The clip's SfM labels when its reconstruction is usable and has the cache's frames, else ``None``."""
        labels = load_sfm(self.hparams.sfm_dir, spec, self.hparams.target_rate_hz)
        if labels is not None and len(labels.registered) != n_frames:
            LOG.warning("clip %s: SfM has %d frames, the training cache %d; no SfM labels", spec.name,
                        len(labels.registered), n_frames)
            return None
        return labels

    def clip_names(self) -> list[str]:
        """Names of the clips in use (for checkpoint metadata)."""
        return [c.name for c in self.clips]

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        sampler = None
        if self.train_scores is not None and hp.curriculum_ramp_epochs > 0 and hp.curriculum_start_fraction < 1:
            sampler = CurriculumSampler(self.train_scores, hp.curriculum_start_fraction, hp.curriculum_ramp_epochs,
                                        hp.seed)
        return DataLoader(self.train_set, batch_size=hp.batch_size, shuffle=sampler is None, sampler=sampler,
                          drop_last=True, num_workers=hp.num_workers, persistent_workers=hp.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        hp = self.hparams
        return DataLoader(self.val_set, batch_size=hp.batch_size, shuffle=False, num_workers=hp.num_workers,
                          persistent_workers=hp.num_workers > 0)
