"""SS3D checkpoints: safetensors weights + a JSON metadata sidecar.

A checkpoint ``NAME`` is two files: ``NAME.safetensors`` (tensors only, no code, safe to load from anyone) and
``NAME.json``::

    {"format": "ss3d-checkpoint", "format_version": 1,
     "architecture": {...SS3DNetConfig...},
     "input": {"height": H, "width": W, "color": "RGB", "range": [0, 1], "normalisation": {...}},
     "depth": {"min": 0.1, "max": 100.0, "unit": "relative"},
     "intrinsics_prior": [fx_n, fy_n, cx_n, cy_n],
     "weights_sha256": "...", "training": {...data and command...}, "metrics": {...}}

Pickled files (``.pt``/``.pth``/``.ckpt``) are refused: unpickling executes arbitrary code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ss3d_core.network import SS3DNet, SS3DNetConfig
from ss3d_core.network.config import INPUT_MEAN, INPUT_STD

FORMAT = "ss3d-checkpoint"
FORMAT_VERSION = 1
# Magic bytes of pickle protocol 2+ (0x80) and of zip archives (torch.save's default container).
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unsafe, corrupt or does not match the architecture it declares."""


@dataclass
class CheckpointMetadata:
    """Parsed ``NAME.json``; see the module docstring for the layout."""

    architecture: SS3DNetConfig
    intrinsics_prior: tuple[float, float, float, float]
    depth_unit: str = "relative"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON document for the sidecar file."""
        arch = self.architecture
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "architecture": arch.to_dict(),
            "input": {
                "height": arch.input_height,
                "width": arch.input_width,
                "color": "RGB",
                "range": [0.0, 1.0],
                "normalisation": {"mean": INPUT_MEAN, "std": INPUT_STD, "applied": "inside the network"},
            },
            "depth": {"min": arch.min_depth, "max": arch.max_depth, "unit": self.depth_unit},
            "intrinsics_prior": list(self.intrinsics_prior),
            "weights_sha256": self.weights_sha256,
            "training": self.training,
            "metrics": self.metrics,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path) -> CheckpointMetadata:
        """Validate and parse a sidecar document; raises :class:`CheckpointError` naming ``source``."""
        if data.get("format") != FORMAT:
            raise CheckpointError(f"{source}: not an SS3D checkpoint (format={data.get('format')!r})")
        if data.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{source}: format_version {data.get('format_version')} is not supported (expected {FORMAT_VERSION})"
            )
        try:
            arch = SS3DNetConfig.from_dict(data["architecture"])
            prior = tuple(float(x) for x in data["intrinsics_prior"])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{source}: invalid metadata: {err}") from err
        if len(prior) != 4:
            raise CheckpointError(f"{source}: intrinsics_prior needs 4 values")
        return cls(
            architecture=arch,
            intrinsics_prior=prior,  # type: ignore[arg-type]
            depth_unit=str(data.get("depth", {}).get("unit", "relative")),
            training=dict(data.get("training", {})),
            metrics=dict(data.get("metrics", {})),
            weights_sha256=str(data.get("weights_sha256", "")),
        )


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights, metadata)`` paths for ``NAME``, ``NAME.safetensors`` or ``NAME.json``."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(model: SS3DNet, path: str | Path, metadata: CheckpointMetadata) -> tuple[Path, Path]:
    """Write ``model``'s weights and ``metadata`` (the weights hash is filled in). Returns both paths."""
    weights_path, meta_path = checkpoint_paths(path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(weights_path), metadata={"format": FORMAT})
    metadata.architecture = model.config
    metadata.weights_sha256 = _sha256(weights_path)
    meta_path.write_text(json.dumps(metadata.to_json(), indent=2, sort_keys=False) + "\n")
    return weights_path, meta_path


def read_metadata(path: str | Path) -> CheckpointMetadata:
    """Read and validate the JSON sidecar of a checkpoint (no weights are loaded)."""
    _, meta_path = checkpoint_paths(path)
    if not meta_path.is_file():
        raise CheckpointError(f"checkpoint metadata {meta_path} not found")
    try:
        data = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{meta_path}: not valid JSON: {err}") from err
    return CheckpointMetadata.from_json(data, meta_path)


def _refuse_pickle(path: Path) -> None:
    if path.suffix in (".pt", ".pth", ".ckpt", ".pkl", ".bin"):
        raise CheckpointError(
            f"{path}: pickled checkpoints are refused (unpickling runs arbitrary code); "
            "export to safetensors with `python -m training.fit.export`"
        )
    if path.is_file():
        with path.open("rb") as f:
            head = f.read(4)
        if any(head.startswith(magic) for magic in _PICKLE_MAGIC):
            raise CheckpointError(f"{path}: looks like a pickle/torch.save archive; only safetensors are accepted")


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[SS3DNet, CheckpointMetadata]:
    """Build the declared architecture and load its weights, in eval mode.

    Args:
        path: ``NAME``, ``NAME.safetensors`` or ``NAME.json``.
        map_location: device for the weights.

    Raises:
        CheckpointError: pickle input, missing files, hash mismatch, or weights that do not fit the architecture
            (the message lists missing/unexpected/mis-shaped tensors).
    """
    path = Path(path)
    _refuse_pickle(path)
    weights_path, _ = checkpoint_paths(path)
    metadata = read_metadata(path)
    if not weights_path.is_file():
        raise CheckpointError(f"checkpoint weights {weights_path} not found")
    _refuse_pickle(weights_path)
    if metadata.weights_sha256 and metadata.weights_sha256 != _sha256(weights_path):
        raise CheckpointError(f"{weights_path}: sha256 differs from the metadata; weights and metadata do not match")
    try:
        state = load_file(str(weights_path), device=str(map_location))
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{weights_path}: not a readable safetensors file: {err}") from err
    model = SS3DNet(metadata.architecture)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mis_shaped = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or mis_shaped:
        raise CheckpointError(
            f"{weights_path} does not match the architecture in its metadata: "
            f"missing={missing[:5]}, unexpected={unexpected[:5]}, mis-shaped={mis_shaped[:5]}"
        )
    model.load_state_dict(state)
    model.to(map_location).eval()
    return model, metadata


def bundled_checkpoint() -> Path:
    """Path (without suffix) of the checkpoint shipped inside this package."""
    return Path(__file__).resolve().parent / "models" / "ss3d_small"
