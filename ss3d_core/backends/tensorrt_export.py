"""Compile the encoder/decoder graphs to TensorRT engines with torch-tensorrt (ahead-of-time dynamo path), cached.

torch-tensorrt is an optional extra (``pip install .[tensorrt]`` or ``-r requirements-tensorrt.txt``), imported only
here and only when a TensorRT backend or export is requested, so CPU installs stay light. Each graph is exported
with ``torch.export``, compiled with ``torch_tensorrt.dynamo.compile`` and saved as an ExportedProgram embedding the
serialised engine (``encoder.ep``, ``decoder.ep``) into the keyed
:class:`~ss3d_core.backends.artifact_cache.ArtifactCache` under ``<cache>/tensorrt/``. An engine is only valid for
the TensorRT version and GPU that built it, so both are part of the key, with the weights hash, input shape and
precision: a restart reuses the entry, anything else builds a new one and the log says which field changed.

Precision: FP16 compiles the encoder and the depth decoder cast to half and keeps the pose/intrinsics head in
float32 (explicit typing: what the graph says is what TensorRT runs). A rotation matrix in half precision has a
resolution of about 1e-3 near 1 (0.06°), as large as the rotation between two frames of a driving car, and the head
is a small part of the cost. FP32 keeps everything float32 (TF32 disabled, so FP32 means FP32). The image goes in
and every output comes out as float32.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ss3d_core.backends.artifact_cache import ArtifactCache, ArtifactKey
from ss3d_core.backends.base import BackendUnavailable
from ss3d_core.backends.graphs import DecoderGraph, EncoderGraph, example_inputs, graph_key
from ss3d_core.checkpoint import CheckpointMetadata
from ss3d_core.network import SS3DNet

LOG = logging.getLogger(__name__)
TENSORRT_FILES = ("encoder.ep", "decoder.ep")
INSTALL_HINT = "pip install .[tensorrt] (or -r requirements-tensorrt.txt) on a machine with an NVIDIA GPU"
DTYPES = {"fp16": torch.float16, "fp32": torch.float32}
# The CUDA device engines are built for and run on.
DEVICE = "cuda:0"


def tensorrt_environment() -> dict[str, str]:
    """The validity conditions of an engine here: TensorRT, torch-tensorrt and torch versions, GPU name and
    compute capability, as strings for :class:`~ss3d_core.backends.artifact_cache.ArtifactKey`.

    Raises:
        BackendUnavailable: no CUDA device is visible, or torch-tensorrt / TensorRT is not installed.
    """
    if not torch.cuda.is_available():
        raise BackendUnavailable("no CUDA device is visible (TensorRT needs an NVIDIA GPU and a CUDA build of torch)")
    try:
        import tensorrt
        import torch_tensorrt
    except ImportError as err:
        raise BackendUnavailable(f"torch-tensorrt is not installed ({INSTALL_HINT}): {err}") from err
    props = torch.cuda.get_device_properties(DEVICE)
    return {
        "tensorrt": str(tensorrt.__version__),
        "torch_tensorrt": str(torch_tensorrt.__version__),
        "torch": str(torch.__version__),
        "gpu": str(props.name),
        "compute_capability": f"{props.major}.{props.minor}",
    }


def tensorrt_key(model: SS3DNet, metadata: CheckpointMetadata, precision: str,
                 environment: dict[str, str]) -> ArtifactKey:
    """Cache key of the TensorRT engines of ``model`` at ``precision`` (``fp16``/``fp32``) in ``environment``
    (:func:`tensorrt_environment`)."""
    if precision not in DTYPES:
        raise ValueError(f"precision must be one of {tuple(DTYPES)}, got {precision!r}")
    return graph_key("tensorrt", model, metadata, precision, environment)


def _supported_kwargs(function: Callable[..., Any], **candidates: Any) -> dict[str, Any]:
    """The ``candidates`` that ``function`` accepts (torch-tensorrt renamed several arguments across releases)."""
    parameters = inspect.signature(function).parameters
    return {name: value for name, value in candidates.items() if name in parameters}


def _compile_settings(compile_fn: Callable[..., Any], args: tuple[torch.Tensor, ...], dtype: torch.dtype) -> dict:
    """Keyword arguments of ``torch_tensorrt.dynamo.compile`` for static ``args`` at ``dtype``, for this release."""
    parameters = inspect.signature(compile_fn).parameters
    settings = {"arg_inputs" if "arg_inputs" in parameters else "inputs": list(args)}
    if "use_explicit_typing" in parameters:  # torch-tensorrt >= 2.6: the graph's dtypes decide the precision
        settings["use_explicit_typing"] = True
    else:
        settings["enabled_precisions"] = {dtype}
    settings.update(_supported_kwargs(compile_fn, disable_tf32=True, device=DEVICE))
    return settings


class _CastingEncoderGraph(EncoderGraph):
    """:class:`EncoderGraph` taking a float32 image and running in ``dtype`` (the cast is part of the engine)."""

    def __init__(self, net: SS3DNet, dtype: torch.dtype):
        super().__init__(net)
        self.dtype = dtype

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return super().forward(image.to(self.dtype))


def build_tensorrt(model: SS3DNet, out_dir: str | Path, precision: str = "fp16") -> tuple[Path, Path]:
    """Compile ``model``'s two graphs for the visible GPU and save them into ``out_dir``.

    Args:
        model: the network (not modified: a copy is moved to the GPU and cast).
        out_dir: destination folder.
        precision: ``fp16`` or ``fp32``.

    Returns:
        ``(encoder_path, decoder_path)``.

    Raises:
        BackendUnavailable: no GPU or no torch-tensorrt.
        Exception: torch.export / torch-tensorrt errors when a graph cannot be compiled (the caller falls back).
    """
    tensorrt_environment()
    import torch_tensorrt

    dtype = DTYPES[precision]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    net = copy.deepcopy(model).to(DEVICE).eval()
    net.encoder.to(dtype)
    net.depth_decoder.to(dtype)
    image, features = example_inputs(net, DEVICE, dtype)
    image = image.float()  # the encoder graph takes float32 and casts inside, so callers never deal with half
    paths = []
    for filename, graph, args in ((TENSORRT_FILES[0], _CastingEncoderGraph(net, dtype), (image,)),
                                  (TENSORRT_FILES[1], DecoderGraph(net, motion_dtype=torch.float32), features)):
        with torch.no_grad():
            exported = torch.export.export(graph.eval(), args)
            compiled = torch_tensorrt.dynamo.compile(
                exported, **_compile_settings(torch_tensorrt.dynamo.compile, args, dtype))
        inputs_name = "arg_inputs" if "arg_inputs" in inspect.signature(torch_tensorrt.save).parameters else "inputs"
        torch_tensorrt.save(compiled, str(out_dir / filename), output_format="exported_program",
                            **{inputs_name: list(args)})
        paths.append(out_dir / filename)
    return paths[0], paths[1]


def cached_tensorrt(
    model: SS3DNet,
    metadata: CheckpointMetadata,
    precision: str = "fp16",
    cache: ArtifactCache | None = None,
    log: Callable[[str], None] = LOG.warning,
) -> tuple[Path, Path]:
    """``(encoder_path, decoder_path)`` from the cache, built first on a miss (logged with the reason: a build takes
    minutes, so it is logged as a warning).

    Raises:
        BackendUnavailable: no GPU or no torch-tensorrt.
        Exception: the build's errors.
    """
    cache = cache or ArtifactCache()
    key = tensorrt_key(model, metadata, precision, tensorrt_environment())
    folder, _ = cache.get_or_build(key, TENSORRT_FILES, lambda out: build_tensorrt(model, out, precision), log)
    return folder / TENSORRT_FILES[0], folder / TENSORRT_FILES[1]


def load_tensorrt_program(path: str | Path) -> torch.nn.Module:
    """Load one saved engine program for execution (``torch.export.load``; registers torch-tensorrt's runtime).

    Only for files of this package's own cache (see the trust boundary in
    :mod:`ss3d_core.backends.artifact_cache`): ``torch.export.load`` is not safe on files from others.

    Raises:
        BackendUnavailable: torch-tensorrt is not installed.
        Exception: the file cannot be deserialised (another TensorRT version, a corrupt file).
    """
    try:
        import torch_tensorrt  # noqa: F401 - registers the TensorRT engine class that the program references
    except ImportError as err:
        raise BackendUnavailable(f"torch-tensorrt is not installed ({INSTALL_HINT})") from err
    return torch.export.load(str(path)).module()
