"""PyTorch eager backend (CPU or CUDA)."""

from __future__ import annotations

import numpy as np
import torch

from ss3d_core.backends.base import BackendUnavailable, InferenceBackend, PairPrediction
from ss3d_core.network import SS3DNet


class TorchBackend(InferenceBackend):
    """Runs :class:`SS3DNet` with ``torch.inference_mode``.

    Args:
        model: loaded network (moved to ``device`` and set to eval mode in place: give each backend its own).
        device: ``cpu`` or ``cuda[:N]``.
        num_threads: intra-op CPU threads (``None``: torch's default).

    Raises:
        BackendUnavailable: when ``device`` is CUDA and no CUDA device is present.
    """

    def __init__(self, model: SS3DNet, device: str = "cpu", num_threads: int | None = None):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable("torch was built without CUDA or no CUDA device is visible")
        if num_threads:
            torch.set_num_threads(num_threads)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.name = f"torch-{self.device.type}"
        self.input_size = (model.config.input_width, model.config.input_height)

    @torch.inference_mode()
    def encode(self, image: np.ndarray) -> list[torch.Tensor]:
        return self.model.encode(torch.from_numpy(image).to(self.device))

    @torch.inference_mode()
    def decode(self, features_prev: list[torch.Tensor], features_cur: list[torch.Tensor]) -> PairPrediction:
        out = self.model.decode(features_prev, features_cur)
        return PairPrediction(
            depth=out.depth[0, 0].float().cpu().numpy(),
            T_prev_cur=out.T_prev_cur[0].double().cpu().numpy(),
            intrinsics_norm=out.intrinsics_norm[0].double().cpu().numpy(),
        )
