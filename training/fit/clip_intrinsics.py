"""One camera, one focal length: per-clip running estimates of the intrinsics head's focal lengths and the consistency
term against them, and the clip-balanced mean of per-sample losses.

Every clip of the training corpus is filmed by one camera, so the focal length the head predicts for its samples
should be one value (after undoing each sample's crop). Batches are random samples over some 40 clips, so two samples
of one clip rarely meet in a batch; instead each clip keeps an exponential moving average of the head's past
predictions (detached), and the head is pulled towards it: temporal ensembling (Laine & Aila 2017, "Temporal
Ensembling for Semi-Supervised Learning") / mean teacher (Tarvainen & Valpola 2017) applied to the one output that must
be constant per camera.
"""

from __future__ import annotations

import logging

import torch

LOG = logging.getLogger(__name__)

# Momentum of each clip's moving average, per training sample of that clip. The MVS-filtered web-clip corpus gives
# ~3,000 training samples per epoch over 39 clips (docs/experiments.md: 375 steps of batch 8), i.e. ~77 samples of a
# clip per epoch. 0.9 averages the last ~1/(1 - 0.9) = 10 samples of the clip (half-life 6.6 samples, about a tenth of
# an epoch): enough random crops and scenes of the clip to average out the per-image noise of the head, short enough
# to follow the head as the K labels and the photometric terms move it (0.99 would average ~1.3 epochs and hold the
# head to where it was an epoch earlier).
CLIP_FOCAL_MOMENTUM = 0.9


def uncropped_log_focal(intrinsics: torch.Tensor, crop_scale: torch.Tensor) -> torch.Tensor:
    """Log normalised focal lengths of the uncropped frame: ``log(fx_n / s_x)``, ``log(fy_n / s_y)``.

    A crop of a fraction ``1/s`` of the width resized back to the training width multiplies the focal length by
    ``s`` (:mod:`training.data.augmentation`); dividing it out gives a value that is the same for every sample of one
    camera, whatever its crop. A flip does not change the focal lengths.

    Args:
        intrinsics: ``B×4`` float normalised K ``(fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H)`` of the samples as fed to the
            network; fx, fy positive.
        crop_scale: ``B×2`` float ``(s_x, s_y)``, the samples' magnification against the uncropped frame
            (:class:`training.data.batch.TripletSample`; 1 without a crop).

    Returns:
        ``B×2`` log focal lengths in the same dtype, differentiable in ``intrinsics``.

    Raises:
        ValueError: shapes do not match (``B×4`` and ``B×2``).
    """
    if intrinsics.ndim != 2 or intrinsics.shape[1] != 4 or crop_scale.shape != (intrinsics.shape[0], 2):
        raise ValueError(f"intrinsics must be B×4 and crop_scale B×2, got {tuple(intrinsics.shape)} and "
                         f"{tuple(crop_scale.shape)}")
    return torch.log(intrinsics[:, :2]) - torch.log(crop_scale.to(intrinsics))


def clip_balanced_mean(values: torch.Tensor, clips: list[str]) -> torch.Tensor:
    """Mean of per-sample values, first within each clip, then over the clips: every clip present weighs the same,
    however many of its samples the batch holds.

    Args:
        values: ``N`` float per-sample values.
        clips: ``N`` clip names, one per value.

    Returns:
        Scalar, differentiable in ``values``; the plain mean when every clip has one sample.

    Raises:
        ValueError: ``values`` is not 1-D, is empty, or its length differs from ``clips``.
    """
    if values.ndim != 1 or len(values) == 0 or len(values) != len(clips):
        raise ValueError(f"values must be N (N > 0) with N clip names, got {tuple(values.shape)} and {len(clips)}")
    index: dict[str, int] = {}
    group = torch.tensor([index.setdefault(c, len(index)) for c in clips], device=values.device)
    counts = torch.bincount(group).to(values.dtype)
    return (values / counts[group]).sum() / len(index)


class ClipFocalEstimates:
    """Each clip's running estimate of the head's log focal lengths (:func:`uncropped_log_focal`), and the
    consistency term against it.

    The estimates are plain detached float64 CPU values: they carry no gradient, so the term pulls only the
    prediction. Under DDP each rank keeps its own (the checkpoint holds rank 0's).

    Args:
        momentum: per-sample momentum of the moving average, in ``[0, 1)`` (see :data:`CLIP_FOCAL_MOMENTUM`).

    Raises:
        ValueError: ``momentum`` outside ``[0, 1)``.
    """

    def __init__(self, momentum: float = CLIP_FOCAL_MOMENTUM):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self._estimates: dict[str, torch.Tensor] = {}
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._estimates)

    def estimate(self, clip: str) -> torch.Tensor | None:
        """The clip's ``2`` float64 estimate ``(log fx_n, log fy_n)`` (a copy), ``None`` before its first sample."""
        value = self._estimates.get(clip)
        return None if value is None else value.clone()

    def loss(self, clips: list[str], log_focal: torch.Tensor) -> torch.Tensor | None:
        """Mean of ``|log f - log f̄_clip|`` over the samples whose clip has an estimate and over both axes.

        Args:
            clips: ``B`` clip names.
            log_focal: ``B×2`` predicted log focal lengths (:func:`uncropped_log_focal`).

        Returns:
            Scalar in the dtype of ``log_focal``, differentiable in it only; ``None`` when no sample's clip has an
            estimate yet.

        Raises:
            ValueError: ``log_focal`` is not ``B×2`` for the ``B`` clip names.
        """
        self._check(clips, log_focal)
        seen = [i for i, clip in enumerate(clips) if clip in self._estimates]
        if not seen:
            return None
        target = torch.stack([self._estimates[clips[i]] for i in seen]).to(log_focal)
        return (log_focal[seen] - target).abs().mean()

    def update(self, clips: list[str], log_focal: torch.Tensor) -> None:
        """Fold the samples into their clips' estimates, in batch order: a clip's first sample seeds its estimate,
        each later one moves it to ``momentum · estimate + (1 - momentum) · log f``. Call it after :meth:`loss`, on
        training batches only.

        Args:
            clips: ``B`` clip names.
            log_focal: ``B×2`` log focal lengths (detached here).

        A sample with a non-finite value is dropped (logged, counted in ``dropped``): one diverged prediction must
        not poison its clip's estimate for the rest of the run.

        Raises:
            ValueError: ``log_focal`` is not ``B×2`` for the ``B`` clip names.
        """
        self._check(clips, log_focal)
        values = log_focal.detach().to("cpu", torch.float64)
        finite = torch.isfinite(values).all(dim=1).tolist()
        if not all(finite):
            self.dropped += finite.count(False)
            LOG.warning("%d non-finite log focal lengths left out of the clip estimates (%d so far)",
                        finite.count(False), self.dropped)
        for clip, value, ok in zip(clips, values, finite):
            if not ok:
                continue
            previous = self._estimates.get(clip)
            self._estimates[clip] = value.clone() if previous is None else (
                self.momentum * previous + (1.0 - self.momentum) * value)

    def state_dict(self) -> dict[str, list[float]]:
        """Clip -> ``[log fx_n, log fy_n]`` (plain floats, for a Lightning checkpoint)."""
        return {clip: value.tolist() for clip, value in self._estimates.items()}

    def load_state_dict(self, state: dict[str, list[float]]) -> None:
        """Replace the estimates with those of :meth:`state_dict`.

        Raises:
            ValueError: an entry is not two finite floats.
        """
        estimates = {clip: torch.tensor(value, dtype=torch.float64) for clip, value in state.items()}
        for clip, value in estimates.items():
            if value.shape != (2,) or not torch.isfinite(value).all():
                raise ValueError(f"clip {clip!r}: expected two finite log focal lengths, got {state[clip]}")
        self._estimates = estimates

    @staticmethod
    def _check(clips: list[str], log_focal: torch.Tensor) -> None:
        if log_focal.shape != (len(clips), 2):
            raise ValueError(f"log_focal must be B×2 for {len(clips)} clips, got {tuple(log_focal.shape)}")
