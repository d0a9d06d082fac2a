"""The distillation loss of the SS3D student: agree with a domain expert's depth, ego-motion and intrinsics.

SS3D (GUIDE §1) trains experts on sub-domains of the corpus and distils their predictions into the single student
that ships. The student here learns from the expert of each sample's domain (:mod:`training.fit.teachers`) on top of its
own self-supervised loss; the three terms compare quantities that are defined up to what self-supervision leaves
free:

- **depth**: monocular self-supervised depth has an unknown global scale per image (and per network), so the term is
  the scale-invariant log-depth L1 after median alignment: ``mean |(log d_s - med log d_s) - (log d_t - med log
  d_t)|`` over the valid pixels of each sample (MiDaS' shift-and-scale-invariant loss in log space, Ranftl et al.
  2020, with only a scale to remove because depth is positive). 0 when the student equals the teacher at any scale.
- **pose**: the rotation's geodesic distance ``∠(R_sᵀ R_t)`` in radians (Hartley et al. 2013, "Rotation averaging")
  plus the translation direction ``1 - cos ∠(t_s, t_t)`` (the translation's length shares depth's unknown scale;
  :mod:`ss3d_core.losses.pose_supervision`). Pairs whose teacher translation is below ``MIN_TRANSLATION`` carry no
  direction and are left out of that term.
- **intrinsics**: L1 on the normalised ``(fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H)``
  (:func:`ss3d_core.camera.K_to_normalised`), which the network predicts directly.

Weights (:data:`DEFAULT_WEIGHTS`) bring each term to the size of the depth term at a typical disagreement, so that
none dominates by its units alone: log-depth L1 between two plausible depth maps is ~0.1-0.3; an inter-frame rotation
is ~0.2-2° (0.003-0.03 rad), so rotation is weighted 10 (a 1° disagreement then costs 0.17); a 10-25° translation
direction gives 1 - cos = 0.015-0.1, weight 1; normalised K disagreements are ~0.02-0.2 (a 10 % focal error on
fx/W ≈ 0.8 is 0.08), weight 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ss3d_core.losses.pose_supervision import rotation_geodesic, translation_direction_loss

__all__ = [
    "DEFAULT_WEIGHTS",
    "Predictions",
    "depth_distillation_loss",
    "distillation_loss",
]

# Weights of the depth, rotation, translation-direction and intrinsics terms (see the module docstring).
DEFAULT_WEIGHTS = {"depth": 1.0, "rotation": 10.0, "translation": 1.0, "intrinsics": 1.0}
# Keeps the square roots and logs differentiable at 0.
_EPS = 1e-8


@dataclass(frozen=True)
class Predictions:
    """What the network predicts for a batch of ``(previous, target, next)`` triplets (student or teacher).

    Attributes:
        depth: ``B×1×H×W`` positive depth of the target frame (the network's units, arbitrary scale).
        poses: ``T_source_target`` for each source (previous, next), each ``B×4×4`` (camera frames, OpenCV axes).
        intrinsics: ``B×4`` normalised intrinsics ``(fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H)``.
    """

    depth: torch.Tensor
    poses: tuple[torch.Tensor, ...]
    intrinsics: torch.Tensor

    def select(self, mask: torch.Tensor) -> Predictions:
        """The samples where the ``B`` bool ``mask`` is set."""
        return Predictions(self.depth[mask], tuple(T[mask] for T in self.poses), self.intrinsics[mask])


def depth_distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Scale-invariant log-depth L1 after median alignment, averaged over samples (see the module docstring).

    Args:
        student, teacher: ``B×1×H×W`` positive depths (any units; each sample's scale is removed).
        valid: optional ``B×1×H×W`` bool mask of pixels to compare (all when ``None``).

    Returns:
        A scalar tensor (0 for identical depths up to a per-sample scale).

    Raises:
        ValueError: the shapes differ.
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student depth {tuple(student.shape)} and teacher depth {tuple(teacher.shape)} differ")
    if valid is None:
        valid = torch.ones_like(student, dtype=torch.bool)
    losses = []
    for s, t, v in zip(student.clamp_min(_EPS).log(), teacher.clamp_min(_EPS).log(), valid):
        if v.any():
            s_v, t_v = s[v], t[v]
            losses.append(((s_v - s_v.median()) - (t_v - t_v.median())).abs().mean())
    return torch.stack(losses).mean() if losses else student.sum() * 0.0


def distillation_loss(
    student: Predictions, teacher: Predictions, weights: dict[str, float] | None = None,
) -> dict[str, torch.Tensor]:
    """The weighted distillation loss and its terms (see the module docstring).

    Args:
        student: the student's predictions (with gradients).
        teacher: the expert's predictions for the same samples (no gradient needed; detached here).
        weights: per-term weights, keys of :data:`DEFAULT_WEIGHTS` (missing keys keep their default).

    Returns:
        ``{"total", "depth", "rotation", "translation", "intrinsics"}`` scalars; ``total`` is the weighted sum.

    Raises:
        ValueError: unknown weight names, mismatched depth shapes or a different number of poses.
    """
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    if set(w) != set(DEFAULT_WEIGHTS):
        raise ValueError(f"unknown distillation weights {sorted(set(w) - set(DEFAULT_WEIGHTS))}")
    if len(student.poses) != len(teacher.poses):
        raise ValueError(f"{len(student.poses)} student poses against {len(teacher.poses)} teacher poses")
    terms = {
        "depth": depth_distillation_loss(student.depth, teacher.depth.detach()),
        "rotation": torch.stack([rotation_geodesic(s[:, :3, :3], t.detach()[:, :3, :3]).mean()
                                 for s, t in zip(student.poses, teacher.poses)]).mean(),
        "translation": torch.stack([translation_direction_loss(s[:, :3, 3], t.detach()[:, :3, 3])
                                    for s, t in zip(student.poses, teacher.poses)]).mean(),
        "intrinsics": (student.intrinsics - teacher.intrinsics.detach()).abs().mean(),
    }
    terms["total"] = sum(w[name] * value for name, value in terms.items())
    return terms
