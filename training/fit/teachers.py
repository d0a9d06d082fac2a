"""Frozen domain experts as the student's teachers: each training sample is scored by the expert of its clip's domain.

The experts run online, on the same (un-colour-jittered, but cropped and flipped) frames as the student, so the
targets follow every augmentation without a per-window store; they are frozen, in eval mode and outside the
student's ``state_dict`` (Lightning checkpoints and the export hold the student only). A sample whose clip has no
domain in ``domains.csv`` or whose domain has no expert gets no distillation term (its self-supervised loss still
trains it). Cost: one extra forward pass of the network per sample, no backward.
"""

from __future__ import annotations

import torch

from ss3d_core.checkpoint import CheckpointError, load_checkpoint
from ss3d_core.network import SS3DNet
from ss3d_core.pose import invert_pose_batch
from training.corpus.domains import read_domains
from training.fit.distillation import Predictions


def triplet_predictions(net: SS3DNet, frames: torch.Tensor) -> tuple[Predictions, list[torch.Tensor]]:
    """Predictions of ``net`` for ``B×3×3×H×W`` (previous, target, next) RGB triplets in [0, 1]: the target's finest
    depth, ``T_source_target`` of (previous, next) and the mean of the two pairs' intrinsics, plus the target's
    multi-scale disparities. Pairs enter in temporal order (as in :class:`training.fit.module.SS3DLightningModule`)."""
    b, t = frames.shape[:2]
    features = [f.unflatten(0, (b, t)) for f in net.encode(frames.flatten(0, 1))]
    f_prev, f_tgt, f_next = ([f[:, i] for f in features] for i in range(3))
    T_prev_tgt, k_prev = net.predict_motion(f_prev, f_tgt)
    T_tgt_next, k_next = net.predict_motion(f_tgt, f_next)
    disparities = net.predict_depth(f_tgt)
    poses = (T_prev_tgt, invert_pose_batch(T_tgt_next))
    return Predictions(1.0 / disparities[0], poses, 0.5 * (k_prev + k_next)), disparities


class DomainTeachers:
    """The experts of a distillation run.

    Args:
        experts: domain name -> expert checkpoint (SS3D export path without suffix).
        domains_csv: the corpus' ``domains.csv`` (:func:`training.corpus.domains.write_domains`).
        architecture: the student's architecture; every expert must have it (same input size and outputs).

    Raises:
        ss3d_core.checkpoint.CheckpointError: an expert is unreadable or has another architecture.
        FileNotFoundError: no ``domains_csv``.
    """

    def __init__(self, experts: dict[str, str], domains_csv: str, architecture) -> None:
        self.domain_of = read_domains(domains_csv)
        self.nets: dict[str, SS3DNet] = {}
        for domain, path in experts.items():
            net, metadata = load_checkpoint(path)
            if metadata.architecture != architecture:
                raise CheckpointError(f"expert {domain} ({path}): architecture {metadata.architecture} differs from "
                                      f"the student's {architecture}")
            self.nets[domain] = net.eval().requires_grad_(False)

    @torch.no_grad()
    def predict(self, frames: torch.Tensor, clips: list[str]) -> tuple[Predictions | None, torch.Tensor]:
        """Teacher predictions for the samples that have an expert.

        Args:
            frames: ``B×3×3×H×W`` triplets (the student's input before colour augmentation).
            clips: the ``B`` samples' clip names.

        Returns:
            ``(predictions, mask)``: ``mask`` is a ``B`` bool tensor of the samples with an expert and
            ``predictions`` holds those samples in batch order (``None`` when there is none).
        """
        domains = [self.domain_of.get(c) for c in clips]
        mask = torch.tensor([d in self.nets for d in domains], device=frames.device)
        if not mask.any():
            return None, mask
        order = [i for i, d in enumerate(domains) if d in self.nets]
        parts, index = [], []
        for domain, net in self.nets.items():
            rows = [i for i in order if domains[i] == domain]
            if rows:
                net.to(frames.device)
                parts.append(triplet_predictions(net, frames[rows])[0])
                index += rows
        # Back to batch order (the order of ``mask``).
        perm = torch.tensor([index.index(i) for i in order], device=frames.device)
        return Predictions(torch.cat([p.depth for p in parts])[perm],
                           tuple(torch.cat([p.poses[k] for p in parts])[perm] for k in range(2)),
                           torch.cat([p.intrinsics for p in parts])[perm]), mask
