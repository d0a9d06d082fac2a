"""``ss3d_export``: ahead-of-time artefacts land in the cache the backends read; TensorRT without a GPU says so."""

from __future__ import annotations

import logging

import pytest

from ss3d_core.backends import create_backend
from ss3d_core.backends.export_cli import main


def test_onnx_export_ahead_of_time_is_found_by_the_backend(tmp_path, tiny_checkpoint, capsys, caplog):
    cache = tmp_path / "engines"
    assert main(["--checkpoint", str(tiny_checkpoint), "--format", "onnx", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "encoder.onnx" in out and f"cache_dir:={cache}" in out
    folder = next((cache / "onnx").iterdir())
    assert "-96x64-fp32-" in folder.name
    caplog.set_level(logging.INFO, logger="ss3d_core")
    backend, _ = create_backend("onnxruntime", tiny_checkpoint, cache_dir=cache)
    assert backend.graph_dir == folder
    assert "building" not in caplog.text, "the node's start loads the exported graphs instead of exporting"
    assert main(["--checkpoint", str(tiny_checkpoint), "--format", "onnx", "--cache-dir", str(cache)]) == 0


def test_tensorrt_export_without_gpu_fails_clearly(tmp_path, tiny_checkpoint, caplog):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible: this test checks the message on machines without one")
    assert main(["--checkpoint", str(tiny_checkpoint), "--format", "tensorrt", "--cache-dir", str(tmp_path)]) == 1
    assert "cannot build tensorrt artefacts here" in caplog.text and "CUDA" in caplog.text


def test_bad_arguments_exit_2(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["--checkpoint", str(tmp_path / "missing"), "--format", "onnx"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--format", "savedmodel"])
    assert exc.value.code == 2


def test_export_leaves_the_callers_network_as_it_was(tmp_path, tiny_checkpoint):
    """The exporter flips its module's training flag back after export; a network shared with a running torch
    backend must stay in eval mode (batch norm with running statistics) and keep its weights."""
    from ss3d_core.backends.onnx_export import export_onnx
    from ss3d_core.checkpoint import load_checkpoint

    model, _ = load_checkpoint(tiny_checkpoint)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_onnx(model, tmp_path)
    assert not any(module.training for module in model.modules())
    assert all((before[k] == v).all() for k, v in model.state_dict().items())
