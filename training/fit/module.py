"""LightningModule: self-supervised SfM training of SS3DNet on frame triplets (Monodepth2 recipe, learned K)."""

from __future__ import annotations

import math

import lightning as L
import torch
import torch.nn.functional as F
from kornia.augmentation import (
    ColorJitter,
    RandomGaussianIllumination,
    RandomLinearIllumination,
    VideoSequential,
)

from ss3d_core.camera import K_from_normalised, square_pixel_intrinsics
from ss3d_core.checkpoint import CheckpointError, load_checkpoint
from ss3d_core.losses import view_synthesis_loss
from ss3d_core.losses.epipolar import epipolar_flow_loss
from ss3d_core.losses.flow_consistency import flow_consistency_loss, rigid_flow
from ss3d_core.losses.pose_supervision import rotation_geodesic, translation_direction_loss
from ss3d_core.losses.triangulated_depth import triangulated_depth_loss
from ss3d_core.network import SS3DNet, SS3DNetConfig
from ss3d_core.pose import invert_pose_batch
from training.fit.clip_intrinsics import ClipFocalEstimates, clip_balanced_mean, uncropped_log_focal
from training.fit.compiled_network import compile_network_parts
from training.fit.distillation import Predictions, distillation_loss
from training.fit.param_groups import check_lr_scales, freeze_groups, optimiser_groups
from training.fit.precision import network_autocast, resolve_precision
from training.fit.teachers import DomainTeachers
from training.labels.triangulated_labels import triangulated_labels

# Monodepth2 colour augmentation (brightness, contrast, saturation ±0.2, hue ±0.1, p = 0.5), applied to the
# network input only; the loss compares un-augmented frames.
COLOR_JITTER = dict(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1, p=0.5)
# Optional illumination fields on the network input (kornia's RandomLinearIllumination and
# RandomGaussianIllumination at their default gains, each with p = 0.5): a brightness gradient or blob over the whole
# image, the same on the three frames of a sample, so that regional brightness says less about depth (against the
# "bright sky is far" shortcut of outdoor clips, see ss3d_eval/depth_cues.py).
ILLUMINATION_P = 0.5
# A target image with fewer SfM points (after the resize to the training size) has too little structure to fix its
# depth scale: the per-image median of 20 log-ratios has a standard error of about a quarter of their spread.
SFM_MIN_DEPTH_POINTS = 20
# Key of the per-clip focal-length estimates (training.fit.clip_intrinsics) in a Lightning checkpoint.
CLIP_FOCAL_CHECKPOINT_KEY = "clip_focal_estimates"


class SS3DLightningModule(L.LightningModule):
    """Trains depth (target frame), ``T_source_target`` and intrinsics jointly with the view-synthesis loss.

    A batch holds ``frames``: ``B×3×3×H×W`` float32 RGB in [0, 1], ordered (previous, target, next). The two
    sources are scored against the target with per-pixel minimum reprojection and auto-masking; the pair
    intrinsics predictions of a sample are averaged into one ``K`` per sample. Pairs always enter the motion head
    in temporal order, as in streaming inference (``(previous, current)``), and the motion towards the next frame is
    inverted (Monodepth2 does the same): the head never has to infer the temporal order from the images.

    Args:
        net: architecture of the network to train.
        lr: Adam learning rate (Monodepth2: 1e-4).
        weight_decay: Adam weight decay.
        automask: Monodepth2 auto-masking.
        smoothness_weight: edge-aware smoothness weight.
        final_lr_fraction: the learning rate decays (cosine) to this fraction of ``lr`` at the last epoch.
        flow_weight: weight of the rigid-flow term against observed optical flow (0 disables it); batches without
            ``flows`` skip it.
        epipolar_weight: weight of the Sampson epipolar distance of the observed flow under the predicted pose and
            K (:mod:`ss3d_core.losses.epipolar`; supervises pose and intrinsics without going through depth; 0
            disables it); batches without ``flows`` skip it.
        motion_only: the intrinsics-first stage of the SS3D schedule (GUIDE §1): train pose and intrinsics from
            the epipolar term alone (needs ``epipolar_weight > 0`` and flows in every batch). Only the motion head
            trains: the encoder is frozen (eval-mode batch norm) and the depth decoder is not run, so the depth of
            the starting checkpoint is kept exactly. A following joint stage (``motion_only: false``, ``init_from``
            this export) trains depth against the settled pose and K.
        triangulation_weight: weight of the scale-invariant depth term against depth triangulated from the observed
            flow under a pose solved from that flow (TrianFlow; :mod:`training.labels.triangulated_labels`,
            :mod:`ss3d_core.losses.triangulated_depth`; 0 disables it); batches without ``flows`` skip it.
        label_gate_max_depth_baselines: the labels' pose-fit gate counts inliers up to this many baselines away
            (:func:`training.labels.triangulated_labels.triangulated_labels`; ``None``: no limit; stages 5 to 7 ran at
            50).
        illumination_augmentation: add random illumination fields to the network input after the colour jitter
            (see ``ILLUMINATION_P``); off in stages 1 to 10.
        init_from: SS3D checkpoint (safetensors + JSON, see :mod:`ss3d_core.checkpoint`) whose weights start this
            run, for a fine-tuning stage; its architecture must equal ``net``.
        use_known_intrinsics: every loss uses the batch's calibrated ``intrinsics`` (the DataModule's
            ``known_intrinsics``, already mapped through each sample's crop and flip) instead of the predicted K, so
            depth and pose adapt to the true camera (fine-tuning on a log with CameraInfo, ``training.finetune``);
            the intrinsics head's own weights then get no gradient, but the features it reads keep training, so
            its (unused) output can drift: run the result with the calibration (the node's ``use_camera_info``).
            A batch without ``intrinsics`` is an error.
        square_pixels: the losses use the predicted K with its geometric-mean focal length and the focal ratio
            ``fy / fx`` of a square-pixel camera seen through the sample's resize and crop (the batch's
            ``pixel_aspect``; :func:`ss3d_core.camera.square_pixel_intrinsics`): the K the node publishes (its
            ``square_pixels``, on by default). The network cannot see the source's aspect ratio (every frame is
            resized to the input size), so without this the two focal outputs are free to trade against each other:
            measured, stage 1 drove ``fx/W`` from 1.2 to 2.7 and ``fy/H`` to 0.64 (fy/fx in pixels 0.14, a real
            resize of 16:9 to 4:3 frames gives 0.75-1.0). A batch without ``pixel_aspect`` is an error; ignored with
            ``use_known_intrinsics``.
        lr_scales: per-group learning-rate multipliers of the SS3D schedule's stage (:mod:`training.fit.param_groups`:
            ``encoder``, ``depth_decoder``, ``motion_trunk``, ``pose``, ``intrinsics``; 0 freezes a group, a missing
            group trains at ``lr``). ``stage1_intrinsics_first.yaml`` and ``stage2_joint.yaml`` say why each stage
            uses its multipliers.
        distill_weight: weight of the distillation term (:mod:`training.fit.distillation`) against the frozen domain
            experts (``distill_experts``); 0 disables it.
        distill_experts: domain -> expert export (path without suffix) of the student stage.
        distill_domains: the corpus' ``domains.csv`` (:mod:`training.corpus.domains`) mapping each clip to its
            domain; samples of a domain without an expert get no distillation term.
        distill_term_weights: the distillation terms' weights (:data:`training.fit.distillation.DEFAULT_WEIGHTS`).
        loss_scales: the view-synthesis, rigid-flow and triangulation terms score only the finest this many disparity
            scales (each at full resolution; ``None``: all ``net.num_scales``, Monodepth2's recipe and stages 1 to
            11). Each scale costs a full-resolution warp, SSIM and flow term per source.
        network_precision: ``fp32``, ``bf16`` (autocast of the encoder, which runs on all three frames) or ``auto``
            (bf16 where the hardware runs it natively, :mod:`training.fit.precision`).
        channels_last: run the network in the channels-last memory format (oneDNN's preferred layout on CPUs).
        compile_network: compile the network's encoder, depth decoder and motion head with ``torch.compile``
            (Inductor; :mod:`training.fit.compiled_network`) in the ``setup`` hook, once per process; state dict
            keys, checkpoints and the export are unchanged. Off: on 2 CPU cores (2026-12-07,
            ``benchmarks/training_throughput.py --compile``, docs/training.md) the compiled forward was 20 % faster
            but the backward 15 % slower, 0.96× the eager samples/s, after ~100 s of compilation; not measured on a
            GPU, where it may pay.
        sfm_depth_weight, sfm_rotation_weight, sfm_translation_weight, sfm_intrinsics_weight: weights of the SfM
            teacher's terms (:mod:`training.sfm`; batches need the DataModule's ``sfm_dir``): the scale-invariant
            log-depth L1 on the target's sparse points (:func:`ss3d_core.losses.triangulated_depth.
            triangulated_depth_loss`, per-image median alignment), the geodesic rotation error in radians and
            ``1 - cos`` of the translation direction of ``T_prev_tgt`` and ``T_next_tgt``
            (:mod:`ss3d_core.losses.pose_supervision`), and the L1 error of the normalised K. 0 disables a term;
            batches (or samples) without labels skip it. The stage configs say why each weight has its value.
        sfm_intrinsics_per_clip: the K term averages its per-sample errors first within each clip of the batch, then
            over those clips (:func:`training.fit.clip_intrinsics.clip_balanced_mean`), so that a clip with many
            samples in the batch weighs no more than one with a single sample: the labels are per camera, and a
            long clip would otherwise pull the head towards its camera in proportion to its length. ``False``: the
            plain mean over the labelled samples (every run before issue 33).
        clip_focal_consistency_weight: weight of the per-clip focal-length consistency term (issue 33: the head learnt
            a focal length per kind of footage, not per camera; TUM Kinect +19-26 %): the mean over the batch's
            samples and over x and y of ``|log f - log f̄_clip|``, where ``f`` is the normalised focal length the
            losses use (after ``square_pixels``) divided by the sample's crop magnification (the batch's
            ``crop_scale``) and ``f̄_clip`` the clip's moving average of the head's earlier training predictions
            (:class:`training.fit.clip_intrinsics.ClipFocalEstimates`, detached, momentum
            :data:`training.fit.clip_intrinsics.CLIP_FOCAL_MOMENTUM`; temporal ensembling, Laine & Aila 2017).
            Dimensionless (a log ratio: 0.1 is a 10 % focal difference). Every clip takes part, labelled or not; a
            clip's first sample only seeds its estimate; validation batches are scored but never update it; the
            estimates travel in Lightning checkpoints (a resumed run keeps them). 0 disables it (no estimate is
            kept). A batch without ``crop_scale`` is an error.

    Raises:
        ss3d_core.checkpoint.CheckpointError: if ``init_from`` is unreadable or its architecture differs from ``net``.
    """

    def __init__(
        self,
        net: SS3DNetConfig | None = None,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        automask: bool = True,
        smoothness_weight: float = 1e-3,
        final_lr_fraction: float = 0.1,
        flow_weight: float = 0.0,
        epipolar_weight: float = 0.0,
        motion_only: bool = False,
        triangulation_weight: float = 0.0,
        label_gate_max_depth_baselines: float | None = None,
        illumination_augmentation: bool = False,
        init_from: str | None = None,
        use_known_intrinsics: bool = False,
        square_pixels: bool = False,
        lr_scales: dict[str, float] | None = None,
        distill_weight: float = 0.0,
        distill_experts: dict[str, str] | None = None,
        distill_domains: str | None = None,
        distill_term_weights: dict[str, float] | None = None,
        loss_scales: int | None = None,
        network_precision: str = "fp32",
        channels_last: bool = False,
        compile_network: bool = False,
        sfm_depth_weight: float = 0.0,
        sfm_rotation_weight: float = 0.0,
        sfm_translation_weight: float = 0.0,
        sfm_intrinsics_weight: float = 0.0,
        sfm_intrinsics_per_clip: bool = False,
        clip_focal_consistency_weight: float = 0.0,
    ):
        super().__init__()
        resolve_precision(network_precision, "cpu")  # a misspelt value fails here, not at the first step
        if motion_only and epipolar_weight <= 0:
            raise ValueError("motion_only trains from the epipolar term alone: set epipolar_weight > 0")
        check_lr_scales(lr_scales)
        if distill_weight > 0 and not (distill_experts and distill_domains):
            raise ValueError("distill_weight > 0 needs distill_experts and distill_domains")
        self.save_hyperparameters()
        self.net = SS3DNet(net or SS3DNetConfig())
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        photometric = [ColorJitter(**COLOR_JITTER)]
        if illumination_augmentation:
            photometric += [RandomLinearIllumination(p=ILLUMINATION_P), RandomGaussianIllumination(p=ILLUMINATION_P)]
        self.color_aug = VideoSequential(*photometric, data_format="BTCHW", same_on_frame=True)
        self.intrinsics_prior: torch.Tensor | None = None
        self._val_intrinsics: list[torch.Tensor] = []
        self.clip_focals = ClipFocalEstimates()
        if init_from:
            self._load_initial_weights(init_from)
        if motion_only:
            for module in (self.net.encoder, self.net.depth_decoder):
                module.requires_grad_(False)
        freeze_groups(self.net, lr_scales)
        # Frozen experts, kept out of the state dict (checkpoints and the export hold the student only).
        self.teachers = (DomainTeachers(distill_experts, distill_domains, self.net.config)
                         if distill_weight > 0 else None)

    def setup(self, stage: str) -> None:
        """Compile the network's parts (``compile_network``) in the process that runs the stage: a pickled module
        (``ddp_spawn``) drops compiled wrappers."""
        if self.hparams.compile_network:
            compile_network_parts(self.net)

    def on_train_epoch_start(self) -> None:
        if self.hparams.motion_only:  # frozen parts keep their batch-norm statistics
            self.net.encoder.eval()
            self.net.depth_decoder.eval()

    def _load_initial_weights(self, path: str) -> None:
        initial, metadata = load_checkpoint(path)
        if metadata.architecture != self.net.config:
            raise CheckpointError(
                f"init_from {path}: architecture {metadata.architecture} differs from the configured {self.net.config}"
            )
        self.net.load_state_dict(initial.state_dict())
        self.intrinsics_prior = torch.tensor(metadata.intrinsics_prior)

    def _step(self, batch: dict[str, torch.Tensor], augment: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Loss terms (``total`` and its parts) and the per-sample intrinsics of one batch."""
        frames = batch["frames"]
        b, t, _, h, w = frames.shape
        if t != 3:
            raise ValueError(f"expected (previous, target, next) triplets, got {t} frames")
        net_input = (self.color_aug(frames) if augment else frames).flatten(0, 1)
        if self.hparams.channels_last:
            net_input = net_input.contiguous(memory_format=torch.channels_last)
        precision = resolve_precision(self.hparams.network_precision, frames.device.type)
        with network_autocast(precision, frames.device.type):
            features = self.net.encode(net_input)
        # The depth decoder, the motion head and the losses run in float32 (training.fit.precision).
        per_frame = [f.float().unflatten(0, (b, t)) for f in features]
        f_prev, f_tgt, f_next = ([f[:, i] for f in per_frame] for i in range(3))
        T_prev_tgt, k_prev = self.net.predict_motion(f_prev, f_tgt)
        T_tgt_next, k_next = self.net.predict_motion(f_tgt, f_next)
        T_next_tgt = invert_pose_batch(T_tgt_next)
        intrinsics = 0.5 * (k_prev + k_next)
        square_pixels = self.hparams.square_pixels and not self.hparams.use_known_intrinsics
        if square_pixels:
            if "pixel_aspect" not in batch:
                raise ValueError("square_pixels needs pixel_aspect in every batch (ClipDataModule sets it)")
            intrinsics = square_pixel_intrinsics(intrinsics, batch["pixel_aspect"], w, h)
        K = K_from_normalised(self._known_intrinsics(batch) if self.hparams.use_known_intrinsics else intrinsics, w, h)
        if self.hparams.motion_only:
            if "flows" not in batch:
                raise ValueError("motion_only needs optical flow in every batch")
            epipolar = self._epipolar(batch, (T_prev_tgt, T_next_tgt), K)
            terms = {"total": self.hparams.epipolar_weight * epipolar, "epipolar": epipolar}
            if "sfm_depth" in batch:  # the depth decoder is not run: pose and K labels only
                self._add_sfm_terms(terms, batch, None, (T_prev_tgt, T_next_tgt), intrinsics)
            self._add_clip_focal_term(terms, batch, intrinsics)
            return terms, intrinsics
        disparities = self.net.predict_depth(f_tgt)
        synthesis = view_synthesis_loss(
            target=frames[:, 1],
            sources=[frames[:, 0], frames[:, 2]],
            disparities=disparities,
            T_source_target=[T_prev_tgt, T_next_tgt],
            K=K,
            automask=self.hparams.automask,
            smoothness_weight=self.hparams.smoothness_weight,
            scales=self.hparams.loss_scales,
        )
        terms = {
            "total": synthesis.total,
            "photometric": synthesis.photometric,
            "smoothness": synthesis.smoothness,
            "automask_fraction": synthesis.automask_fraction,
        }
        has_flow = "flows" in batch
        # Full-resolution depth of every scale (Monodepth2 multi-scale), for the terms against observed flow.
        if has_flow and (self.hparams.flow_weight > 0 or self.hparams.triangulation_weight > 0):
            depths = [1.0 / F.interpolate(d, size=(h, w), mode="bilinear", align_corners=False)
                      for d in disparities[:self.hparams.loss_scales]]
        if self.hparams.flow_weight > 0 and has_flow:
            terms["flow"] = torch.stack([
                flow_consistency_loss(rigid_flow(depth, T, K), batch["flows"][:, i], batch["flow_valid"][:, i])
                for depth in depths
                for i, T in enumerate((T_prev_tgt, T_next_tgt))
            ]).mean()
            terms["total"] = terms["total"] + self.hparams.flow_weight * terms["flow"]
        if self.hparams.triangulation_weight > 0 and has_flow:
            labels = [
                triangulated_labels(batch["flows"][:, i], batch["flow_valid"][:, i], K,
                                    batch["fundamental"][:, i] if "fundamental" in batch else None,
                                    batch["inlier_fraction"][:, i] if "inlier_fraction" in batch else None,
                                    self.hparams.label_gate_max_depth_baselines)
                for i in range(2)
            ]
            terms["triangulation"] = torch.stack([
                triangulated_depth_loss(depth, label.depth, label.valid) for depth in depths for label in labels
            ]).mean()
            terms["labelled_fraction"] = torch.stack([label.valid.float().mean() for label in labels]).mean()
            terms["total"] = terms["total"] + self.hparams.triangulation_weight * terms["triangulation"]
        if self.hparams.epipolar_weight > 0 and has_flow:
            terms["epipolar"] = self._epipolar(batch, (T_prev_tgt, T_next_tgt), K)
            terms["total"] = terms["total"] + self.hparams.epipolar_weight * terms["epipolar"]
        if "sfm_depth" in batch:
            self._add_sfm_terms(terms, batch, 1.0 / disparities[0], (T_prev_tgt, T_next_tgt), intrinsics)
        if self.teachers is not None:
            teacher, mask = self.teachers.predict(frames, list(batch["clip"]))
            terms["distilled_fraction"] = mask.float().mean()
            if teacher is not None:
                if square_pixels:
                    # The experts' K the same way as the student's: only the geometric-mean focal is taught.
                    teacher = Predictions(teacher.depth, teacher.poses, square_pixel_intrinsics(
                        teacher.intrinsics, batch["pixel_aspect"][mask], w, h))
                student = Predictions(1.0 / disparities[0], (T_prev_tgt, T_next_tgt), intrinsics).select(mask)
                distill = distillation_loss(student, teacher, self.hparams.distill_term_weights)
                terms.update({f"distill_{k}": v for k, v in distill.items() if k != "total"})
                terms["distill"] = distill["total"]
                terms["total"] = terms["total"] + self.hparams.distill_weight * distill["total"]
        self._add_clip_focal_term(terms, batch, intrinsics)
        return terms, intrinsics

    def _add_sfm_terms(self, terms: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                       depth: torch.Tensor | None, T_source_target: tuple[torch.Tensor, torch.Tensor],
                       intrinsics: torch.Tensor) -> None:
        """Add the SfM teacher's weighted terms (those with a weight and at least one label in the batch) to
        ``terms`` and its ``total``.

        Args:
            depth: ``B×1×H×W`` predicted depth of the target at the training size (``None``: no depth term).
            T_source_target: predicted ``(T_prev_tgt, T_next_tgt)``, each ``B×4×4``.
            intrinsics: ``B×4`` predicted normalised K (the one the losses use).
        """
        hp = self.hparams
        found: dict[str, torch.Tensor] = {}
        if depth is not None and hp.sfm_depth_weight > 0 and batch["sfm_depth_valid"].any():
            found["sfm_depth"] = triangulated_depth_loss(depth, batch["sfm_depth"], batch["sfm_depth_valid"],
                                                         SFM_MIN_DEPTH_POINTS)
            terms["sfm_depth_fraction"] = batch["sfm_depth_valid"].float().mean()
        T_pred = torch.stack(T_source_target, dim=1)  # B×2×4×4
        rotation_valid = batch["sfm_rotation_valid"]
        if hp.sfm_rotation_weight > 0 and rotation_valid.any():
            found["sfm_rotation"] = rotation_geodesic(T_pred[rotation_valid][:, :3, :3],
                                                      batch["sfm_poses"][rotation_valid][:, :3, :3]).mean()
        translation_valid = batch["sfm_translation_valid"]
        if hp.sfm_translation_weight > 0 and translation_valid.any():
            found["sfm_translation"] = translation_direction_loss(
                T_pred[..., :3, 3].reshape(-1, 3), batch["sfm_poses"][..., :3, 3].reshape(-1, 3),
                translation_valid.reshape(-1))
        intrinsics_valid = batch["sfm_intrinsics_valid"]
        if hp.sfm_intrinsics_weight > 0 and intrinsics_valid.any():
            errors = (intrinsics[intrinsics_valid] - batch["sfm_intrinsics"][intrinsics_valid]).abs().mean(dim=1)
            if hp.sfm_intrinsics_per_clip:
                clips = [clip for clip, valid in zip(batch["clip"], intrinsics_valid.tolist()) if valid]
                found["sfm_intrinsics"] = clip_balanced_mean(errors, clips)
            else:
                found["sfm_intrinsics"] = errors.mean()
        for name, value in found.items():
            terms[name] = value
            terms["total"] = terms["total"] + getattr(hp, f"{name}_weight") * value

    def _clip_log_focal(self, batch: dict[str, torch.Tensor], intrinsics: torch.Tensor) -> torch.Tensor:
        """``B×2`` log focal lengths of the uncropped frames (:func:`training.fit.clip_intrinsics.uncropped_log_focal`)
        of the ``B×4`` normalised ``intrinsics`` the losses use."""
        if "crop_scale" not in batch:
            raise ValueError("clip_focal_consistency_weight > 0 needs crop_scale in every batch (TripletDataset sets "
                             "it)")
        return uncropped_log_focal(intrinsics, batch["crop_scale"])

    def _add_clip_focal_term(self, terms: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                             intrinsics: torch.Tensor) -> None:
        """Add the weighted per-clip focal-length consistency term to ``terms`` and its ``total`` (when it has a
        weight and a sample of the batch has a clip with an estimate); never updates the estimates."""
        if self.hparams.clip_focal_consistency_weight <= 0:
            return
        loss = self.clip_focals.loss(list(batch["clip"]), self._clip_log_focal(batch, intrinsics))
        if loss is not None:
            terms["clip_focal_consistency"] = loss
            terms["total"] = terms["total"] + self.hparams.clip_focal_consistency_weight * loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Keep the per-clip focal-length estimates in Lightning checkpoints (a resumed run continues them)."""
        checkpoint[CLIP_FOCAL_CHECKPOINT_KEY] = self.clip_focals.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restore the per-clip focal-length estimates (none in checkpoints written before they existed)."""
        self.clip_focals.load_state_dict(checkpoint.get(CLIP_FOCAL_CHECKPOINT_KEY, {}))

    @staticmethod
    def _known_intrinsics(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The batch's calibrated ``B×4`` normalised intrinsics (``use_known_intrinsics``)."""
        if "intrinsics" not in batch:
            raise ValueError("use_known_intrinsics needs calibrated intrinsics in every batch (data.known_intrinsics)")
        return batch["intrinsics"].to(batch["frames"].dtype)

    @staticmethod
    def _epipolar(
        batch: dict[str, torch.Tensor], T_source_target: tuple[torch.Tensor, ...], K: torch.Tensor
    ) -> torch.Tensor:
        """Epipolar term averaged over the two sources (previous, next) of the target."""
        return torch.stack([
            epipolar_flow_loss(batch["flows"][:, i], batch["flow_valid"][:, i], T, K)
            for i, T in enumerate(T_source_target)
        ]).mean()

    def _log_terms(self, prefix: str, terms: dict[str, torch.Tensor], batch_size: int) -> None:
        # Validation terms are averaged over every DDP rank's batches (sync_dist); training terms stay per rank.
        for name, value in terms.items():
            self.log(f"{prefix}/{name}", value, batch_size=batch_size, prog_bar=name == "total",
                     sync_dist=prefix == "val")

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        terms, intrinsics = self._step(batch, augment=True)
        if self.hparams.clip_focal_consistency_weight > 0:  # after the term: a clip's first sample only seeds it
            self.clip_focals.update(list(batch["clip"]), self._clip_log_focal(batch, intrinsics))
        self._log_terms("train", terms, batch["frames"].shape[0])
        return terms["total"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        terms, intrinsics = self._step(batch, augment=False)
        self._val_intrinsics.append(intrinsics.detach())
        self._log_terms("val", terms, batch["frames"].shape[0])

    def on_validation_epoch_end(self) -> None:
        """Update ``intrinsics_prior``: the median normalised K over every validation sample of every DDP rank."""
        if self._val_intrinsics:
            local = torch.cat(self._val_intrinsics)
            everywhere = self.all_gather(local).reshape(-1, local.shape[-1])  # world×N×4 under DDP, N×4 otherwise
            self.intrinsics_prior = everywhere.median(dim=0).values.cpu()
            for name, value in zip(("fx_n", "fy_n", "cx_n", "cy_n"), self.intrinsics_prior):
                self.log(f"val/{name}", value)
        self._val_intrinsics.clear()

    def configure_optimizers(self) -> dict[str, object]:
        """Adam over the trainable parameters, one group per :mod:`training.fit.param_groups` group at ``lr`` × its
        ``lr_scales`` multiplier; every group's learning rate decays (cosine, per epoch) to ``final_lr_fraction`` of
        its start at the last epoch."""
        groups = optimiser_groups(self.net, self.hparams.lr, self.hparams.lr_scales)
        optimizer = torch.optim.Adam(groups, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        epochs = max(1, self.trainer.max_epochs or 1) if self._trainer is not None else 1
        floor = self.hparams.final_lr_fraction
        if self.hparams.lr_scales is None:
            # One learning rate: PyTorch's cosine schedule, whose state the Lightning checkpoints of runs started
            # before lr_scales existed hold (a resume loads it).
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs,
                                                                   eta_min=self.hparams.lr * floor)
        else:
            # Per-group rates: the same cosine relative to each group's start (CosineAnnealingLR's eta_min is one
            # absolute rate for every group).
            def cosine(epoch: int) -> float:
                return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))

            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
