"""The training sample and batch contracts, stated once (GUIDE §7: batch/output contracts as TypedDicts)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import torch


class TripletSample(TypedDict):
    """One item of :class:`training.fit.datamodule.TripletDataset`.

    Keys:
        frames: ``3×3×H×W`` float32 RGB in [0, 1], ordered (previous, target, next).
        flows: ``2×2×H×W`` float32 observed optical flow of the target towards (previous, next), pixels.
        flow_valid: ``2×1×H×W`` float32 {0, 1} masks of trusted flow.
        fundamental: ``2×3×3`` float32 fundamental matrices of those two flows (``x_sourceᵀ F x_target = 0``, in the
            sample's pixels after augmentation, max-abs normalised; zeros where the fit failed).
        inlier_fraction: ``2`` float32 fraction of the sampled trusted flow fitting each F.
        clip: the clip's name.
        crop_scale: ``2`` float32 ``(s_x, s_y)``, the sample's magnification against the uncropped frame at the
            training size (training pixels of the sample per training pixel of the whole frame: ``width / crop
            width`` and ``height / crop height``; 1 without a crop, a flip leaves it). The focal lengths of the sample
            in pixels are the uncropped frame's times these (:mod:`training.fit.clip_intrinsics`).
        intrinsics: optional ``4`` float32 calibrated normalised K after the sample's augmentation (only with the
            DataModule's ``known_intrinsics``).
        pixel_aspect: optional float32 scalar, ``fy / fx`` of the sample's frames in pixels for a square-pixel camera
            (after the resize to the training size and the sample's crop; the DataModule sets it).
        sfm_*: optional, all together when the DataModule has an SfM store (``sfm_dir``), the SfM teacher's labels
            after the sample's resize, crop and flip (:mod:`training.sfm.triplet_labels`):
            ``sfm_intrinsics`` ``4`` float32 normalised K with ``sfm_intrinsics_valid`` bool scalar;
            ``sfm_poses`` ``2×4×4`` float32 ``(T_prev_tgt, T_next_tgt)`` (arbitrary translation scale) with
            ``sfm_rotation_valid`` / ``sfm_translation_valid`` ``2`` bool; ``sfm_depth`` ``1×H×W`` float32 sparse depth
            of the target (arbitrary scale, 0 where no point) with ``sfm_depth_valid`` ``1×H×W`` bool. A clip whose
            reconstruction failed or did not register the frames has every mask false.
    """

    frames: torch.Tensor
    flows: torch.Tensor
    flow_valid: torch.Tensor
    fundamental: torch.Tensor
    inlier_fraction: torch.Tensor
    clip: str
    crop_scale: torch.Tensor
    intrinsics: NotRequired[torch.Tensor]
    pixel_aspect: NotRequired[torch.Tensor]
    sfm_intrinsics: NotRequired[torch.Tensor]
    sfm_intrinsics_valid: NotRequired[torch.Tensor]
    sfm_poses: NotRequired[torch.Tensor]
    sfm_rotation_valid: NotRequired[torch.Tensor]
    sfm_translation_valid: NotRequired[torch.Tensor]
    sfm_depth: NotRequired[torch.Tensor]
    sfm_depth_valid: NotRequired[torch.Tensor]


class TripletBatch(TypedDict):
    """A collated batch of :class:`TripletSample` (``B`` samples).

    Keys:
        frames: ``B×3×3×H×W`` float32 RGB in [0, 1], ordered (previous, target, next).
        flows: ``B×2×2×H×W`` float32 flow of the target towards (previous, next), pixels.
        flow_valid: ``B×2×1×H×W`` float32 {0, 1}.
        fundamental: ``B×2×3×3`` float32; inlier_fraction: ``B×2`` float32 (see :class:`TripletSample`).
        clip: ``B`` clip names.
        crop_scale: ``B×2`` float32 (see :class:`TripletSample`).
        intrinsics: optional ``B×4`` float32 (see :class:`TripletSample`).
        pixel_aspect: optional ``B`` float32 (see :class:`TripletSample`).
        sfm_*: optional SfM labels with a leading ``B`` (see :class:`TripletSample`).
    """

    frames: torch.Tensor
    flows: torch.Tensor
    flow_valid: torch.Tensor
    fundamental: torch.Tensor
    inlier_fraction: torch.Tensor
    clip: list[str]
    crop_scale: torch.Tensor
    intrinsics: NotRequired[torch.Tensor]
    pixel_aspect: NotRequired[torch.Tensor]
    sfm_intrinsics: NotRequired[torch.Tensor]
    sfm_intrinsics_valid: NotRequired[torch.Tensor]
    sfm_poses: NotRequired[torch.Tensor]
    sfm_rotation_valid: NotRequired[torch.Tensor]
    sfm_translation_valid: NotRequired[torch.Tensor]
    sfm_depth: NotRequired[torch.Tensor]
    sfm_depth_valid: NotRequired[torch.Tensor]
