"""LightningModule: self-supervised SfM training of SS3DNet on frame triplets (Monodepth2 recipe, learned K)."""

from __future__ import annotations

import lightning as L
import torch
from kornia.augmentation import ColorJitter, VideoSequential

from ss3d_core.camera import K_from_normalised
from ss3d_core.losses import ViewSynthesisTerms, view_synthesis_loss
from ss3d_core.network import SS3DNet, SS3DNetConfig

# Monodepth2 colour augmentation (brightness, contrast, saturation ±0.2, hue ±0.1, p = 0.5), applied to the
# network input only; the loss compares un-augmented frames.
COLOR_JITTER = dict(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1, p=0.5)


class SS3DLightningModule(L.LightningModule):
    """Trains depth (target frame), ``T_source_target`` and intrinsics jointly with the view-synthesis loss.

    A batch holds ``frames``: ``B×3×3×H×W`` float32 RGB in [0, 1], ordered (previous, target, next). The two
    sources are scored against the target with per-pixel minimum reprojection and auto-masking; the pair
    intrinsics predictions of a sample are averaged into one ``K`` per sample.

    Args:
        net: architecture of the network to train.
        lr: Adam learning rate (Monodepth2: 1e-4).
        weight_decay: Adam weight decay.
        automask: Monodepth2 auto-masking.
        smoothness_weight: edge-aware smoothness weight.
    """

    def __init__(
        self,
        net: SS3DNetConfig | None = None,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        automask: bool = True,
        smoothness_weight: float = 1e-3,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.net = SS3DNet(net or SS3DNetConfig())
        self.color_aug = VideoSequential(ColorJitter(**COLOR_JITTER), data_format="BTCHW", same_on_frame=True)
        self.intrinsics_prior: torch.Tensor | None = None
        self._val_intrinsics: list[torch.Tensor] = []

    def _step(self, frames: torch.Tensor, augment: bool) -> tuple[ViewSynthesisTerms, torch.Tensor]:
        b, t, _, h, w = frames.shape
        if t != 3:
            raise ValueError(f"expected (previous, target, next) triplets, got {t} frames")
        net_input = self.color_aug(frames) if augment else frames
        features = self.net.encode(net_input.flatten(0, 1))
        per_frame = [f.unflatten(0, (b, t)) for f in features]
        f_prev, f_tgt, f_next = ([f[:, i] for f in per_frame] for i in range(3))
        disparities = self.net.predict_depth(f_tgt)
        T_prev_tgt, k_prev = self.net.predict_motion(f_prev, f_tgt)
        T_next_tgt, k_next = self.net.predict_motion(f_next, f_tgt)
        intrinsics = 0.5 * (k_prev + k_next)
        terms = view_synthesis_loss(
            target=frames[:, 1],
            sources=[frames[:, 0], frames[:, 2]],
            disparities=disparities,
            T_source_target=[T_prev_tgt, T_next_tgt],
            K=K_from_normalised(intrinsics, w, h),
            automask=self.hparams.automask,
            smoothness_weight=self.hparams.smoothness_weight,
        )
        return terms, intrinsics

    def _log_terms(self, prefix: str, terms: ViewSynthesisTerms, batch_size: int) -> None:
        for name in ("total", "photometric", "smoothness", "automask_fraction"):
            self.log(f"{prefix}/{name}", getattr(terms, name), batch_size=batch_size, prog_bar=name == "total")

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        terms, _ = self._step(batch["frames"], augment=True)
        self._log_terms("train", terms, batch["frames"].shape[0])
        return terms.total

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        terms, intrinsics = self._step(batch["frames"], augment=False)
        self._val_intrinsics.append(intrinsics.detach())
        self._log_terms("val", terms, batch["frames"].shape[0])

    def on_validation_epoch_end(self) -> None:
        if self._val_intrinsics:
            self.intrinsics_prior = torch.cat(self._val_intrinsics).median(dim=0).values.cpu()
            for name, value in zip(("fx_n", "fy_n", "cx_n", "cy_n"), self.intrinsics_prior):
                self.log(f"val/{name}", value)
        self._val_intrinsics.clear()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
