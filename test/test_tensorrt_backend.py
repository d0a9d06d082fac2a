"""TensorRT backend logic on any machine: selection, fallback with one log line, engine cache keying and reuse.

The engine build and load are replaced by stand-ins (torch-tensorrt needs an NVIDIA GPU); what runs for real is the
selection, the cache and the backend's own code on the CPU. Parity and speed on a GPU: test_backend_parity.py.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ss3d_core.backends import BackendOptions, build_backend, create_backend, tensorrt_backend, tensorrt_export
from ss3d_core.backends.graphs import DecoderGraph, EncoderGraph
from ss3d_core.checkpoint import load_checkpoint

H200 = {"tensorrt": "10.7.0", "torch_tensorrt": "2.13.0", "torch": "2.13.0",
        "gpu": "NVIDIA H200", "compute_capability": "9.0"}


@pytest.fixture()
def fake_gpu(monkeypatch, tmp_path):
    """A 'GPU' whose engines are the torch graphs: counts builds, records the environment used."""
    state = {"builds": 0, "environment": dict(H200), "fail": None}

    def build(model, out_dir, precision="fp16"):
        if state["fail"]:
            raise RuntimeError(state["fail"])
        state["builds"] += 1
        for name in tensorrt_export.TENSORRT_FILES:
            (out_dir / name).write_bytes(f"{name} {precision} {state['environment']['gpu']}".encode())

    loaded_model = {}

    def load(path):
        model = loaded_model["model"]
        return EncoderGraph(model) if path.name == "encoder.ep" else DecoderGraph(model)

    monkeypatch.setattr(tensorrt_export, "tensorrt_environment", lambda: dict(state["environment"]))
    monkeypatch.setattr(tensorrt_export, "build_tensorrt", build)
    monkeypatch.setattr(tensorrt_backend, "load_tensorrt_program", load)
    monkeypatch.setattr(tensorrt_backend, "DEVICE", "cpu")
    state["loaded_model"] = loaded_model
    state["cache_dir"] = str(tmp_path / "cache")
    return state


def test_tensorrt_on_this_cpu_falls_back_with_one_log_line(tiny_checkpoint, caplog):
    caplog.set_level(logging.INFO, logger="ss3d_core")
    backend, _ = create_backend("tensorrt", tiny_checkpoint)
    assert backend.name in ("onnxruntime-cpu", "onnxruntime-cuda")
    assert backend.skipped[0][0] == "tensorrt"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "backend tensorrt unavailable" in warnings[0].getMessage()
    assert "running on onnxruntime" in warnings[0].getMessage()
    caplog.clear()
    auto, _ = create_backend("auto", tiny_checkpoint)
    assert auto.name.startswith(("onnxruntime", "torch-cuda")) and auto.skipped[0][0] == "tensorrt"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "auto's skips are not warnings"


def test_engine_cache_reuse_rebuild_on_key_change_and_fallback_on_build_failure(tiny_checkpoint, fake_gpu, caplog,
                                                                                 sample_frames):
    caplog.set_level(logging.INFO, logger="ss3d_core")
    model, metadata = load_checkpoint(tiny_checkpoint)
    fake_gpu["loaded_model"]["model"] = model
    options = BackendOptions(precision="fp16", cache_dir=fake_gpu["cache_dir"])
    backend = build_backend("tensorrt", model, metadata, options)
    assert backend.name == "tensorrt-fp16" and not backend.skipped and fake_gpu["builds"] == 1
    assert "no cached tensorrt artefacts" in caplog.text
    first_dir = backend.engine_dir
    assert first_dir.parent.name == "tensorrt" and "-96x64-fp16-" in first_dir.name

    # The backend's own code path (encode, decode, output types) with the stand-in engines.
    backend.warm_up()
    image = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    prediction = backend.decode(backend.encode(image), backend.encode(image))
    assert prediction.depth.shape == (64, 96) and prediction.depth.dtype == np.float32
    np.testing.assert_allclose(prediction.T_prev_cur, np.eye(4), atol=1e-6)  # same frame twice: no motion

    caplog.clear()
    assert build_backend("tensorrt", model, metadata, options).engine_dir == first_dir  # restart: cache hit
    assert fake_gpu["builds"] == 1 and "building" not in caplog.text

    fake_gpu["environment"]["tensorrt"] = "10.8.0"  # a TensorRT upgrade invalidates the engine, with the reason
    upgraded = build_backend("tensorrt", model, metadata, options)
    assert fake_gpu["builds"] == 2 and upgraded.engine_dir != first_dir
    assert "tensorrt 10.7.0 -> 10.8.0" in caplog.text

    fp32 = build_backend("tensorrt", model, metadata, BackendOptions(precision="fp32",
                                                                      cache_dir=fake_gpu["cache_dir"]))
    assert fp32.name == "tensorrt-fp32" and fake_gpu["builds"] == 3

    caplog.clear()
    fake_gpu["environment"]["gpu"] = "NVIDIA L4"
    fake_gpu["fail"] = "no converter for aten.foo"
    fallback = build_backend("tensorrt", model, metadata, options)
    assert fallback.name.startswith("onnxruntime")
    assert "TensorRT engine build failed: RuntimeError: no converter for aten.foo" in fallback.skipped[0][1]
    assert "gpu NVIDIA H200 -> NVIDIA L4" in caplog.text
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 2  # "building ... because", fallback


def test_unloadable_cached_engine_falls_back_and_says_how_to_rebuild(tiny_checkpoint, fake_gpu, monkeypatch):
    model, metadata = load_checkpoint(tiny_checkpoint)
    fake_gpu["loaded_model"]["model"] = model
    options = BackendOptions(cache_dir=fake_gpu["cache_dir"])

    def broken(path):
        raise RuntimeError("Serialization assertion failed")

    monkeypatch.setattr(tensorrt_backend, "load_tensorrt_program", broken)
    backend = build_backend("tensorrt", model, metadata, options)
    assert backend.name.startswith("onnxruntime")
    assert "cannot be loaded" in backend.skipped[0][1] and "delete that folder" in backend.skipped[0][1]


def test_compile_settings_follow_the_installed_torch_tensorrt_signature():
    import torch

    def new_style(exported_program, *, arg_inputs=None, use_explicit_typing=True, disable_tf32=False, device=None):
        pass

    def old_style(exported_program, inputs=None, *, enabled_precisions=None, disable_tf32=False):
        pass

    args = (torch.zeros(1),)
    assert tensorrt_export._compile_settings(new_style, args, torch.float16) == {
        "arg_inputs": list(args), "use_explicit_typing": True, "disable_tf32": True, "device": "cuda:0"}
    assert tensorrt_export._compile_settings(old_style, args, torch.float16) == {
        "inputs": list(args), "enabled_precisions": {torch.float16}, "disable_tf32": True}


def test_requested_precision_is_validated():
    with pytest.raises(ValueError, match="precision"):
        BackendOptions(precision="int8")
