"""Checkpoint round trip, and refusal of pickles, corrupt files and mismatched architectures."""

import json
import pickle

import pytest
import torch

from ss3d_core.checkpoint import CheckpointError, checkpoint_paths, load_checkpoint, read_metadata, save_checkpoint
from ss3d_core.network import SS3DNet, SS3DNetConfig


def test_round_trip(tiny_checkpoint, tiny_config):
    model, meta = load_checkpoint(tiny_checkpoint)
    assert meta.architecture == tiny_config
    assert meta.intrinsics_prior == (0.8, 1.2, 0.5, 0.5)
    assert not model.training
    torch.manual_seed(0)
    reference = SS3DNet(tiny_config).eval()
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name
    doc = json.loads(checkpoint_paths(tiny_checkpoint)[1].read_text())
    assert doc["input"]["height"] == 64 and doc["depth"]["unit"] == "relative" and len(doc["weights_sha256"]) == 64
    # Every way of naming the checkpoint works.
    for variant in (str(tiny_checkpoint) + ".safetensors", str(tiny_checkpoint) + ".json"):
        assert read_metadata(variant).architecture == tiny_config


def test_refuses_pickles(tmp_path, tiny_config):
    state = SS3DNet(tiny_config).state_dict()
    torch.save(state, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(tmp_path / "model.pt")
    # A pickle disguised under the safetensors name is refused by its magic bytes, before any unpickling.
    disguised = tmp_path / "disguised"
    (tmp_path / "disguised.safetensors").write_bytes(pickle.dumps({"x": 1}))
    (tmp_path / "disguised.json").write_text(json.dumps({"format": "ss3d-checkpoint", "format_version": 1,
                                                         "architecture": tiny_config.to_dict(),
                                                         "intrinsics_prior": [0.8, 1.2, 0.5, 0.5]}))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(disguised)


def test_refuses_mismatched_architecture(tiny_checkpoint, tiny_config):
    _, meta_path = checkpoint_paths(tiny_checkpoint)
    doc = json.loads(meta_path.read_text())
    doc["architecture"]["motion_channels"] = 64
    meta_path.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="does not match the architecture"):
        load_checkpoint(tiny_checkpoint)


def test_refuses_tampered_weights_and_bad_metadata(tiny_checkpoint, tmp_path):
    weights, meta_path = checkpoint_paths(tiny_checkpoint)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tiny_checkpoint)
    meta_path.write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        load_checkpoint(tiny_checkpoint)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing")


def test_save_records_architecture(tmp_path):
    from ss3d_core.checkpoint import CheckpointMetadata

    config = SS3DNetConfig(input_height=32, input_width=64, encoder_channels=(4, 4, 8, 8, 8),
                           decoder_channels=(4, 4, 4, 4, 4), motion_channels=8)
    save_checkpoint(SS3DNet(config), tmp_path / "c", CheckpointMetadata(architecture=SS3DNetConfig(),
                                                                        intrinsics_prior=(1, 1, 0.5, 0.5)))
    assert read_metadata(tmp_path / "c").architecture == config
