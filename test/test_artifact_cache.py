"""The keyed artefact cache: reuse on a matching key, a rebuild that names the changed field, corrupt entries."""

from __future__ import annotations

import json

import pytest

from ss3d_core.backends.artifact_cache import MANIFEST, ArtifactCache, ArtifactKey

FILES = ("a.bin", "b.bin")


def _key(**changes) -> ArtifactKey:
    fields = {"kind": "tensorrt", "weights_sha256": "ab" * 32, "input_shape": (1, 3, 128, 224), "precision": "fp16",
              "environment": {"tensorrt": "10.7.0", "gpu": "NVIDIA H200"}}
    fields.update(changes)
    return ArtifactKey(**fields)


class CountingBuild:
    def __init__(self):
        self.calls = 0

    def __call__(self, folder):
        self.calls += 1
        for name in FILES:
            (folder / name).write_bytes(f"{name} build {self.calls}".encode())


def test_hit_after_build_and_a_rebuild_that_names_the_changed_field(tmp_path):
    cache, build, lines = ArtifactCache(tmp_path), CountingBuild(), []
    folder, built = cache.get_or_build(_key(), FILES, build, lines.append)
    assert built and build.calls == 1 and (folder / "a.bin").is_file()
    assert "no cached tensorrt artefacts" in lines[0] and str(folder) in lines[1]
    assert (folder, False) == cache.get_or_build(_key(), FILES, build, lines.append)  # a restart reuses it
    assert build.calls == 1 and len(lines) == 2

    other_gpu = _key(environment={"tensorrt": "10.7.0", "gpu": "NVIDIA A100"})
    folder_a100, built = cache.get_or_build(other_gpu, FILES, build, lines.append)
    assert built and folder_a100 != folder and folder.is_dir(), "each key keeps its own entry"
    assert "gpu NVIDIA H200 -> NVIDIA A100" in lines[2]
    reason = cache.lookup(_key(precision="fp32", environment={"tensorrt": "10.8.0", "gpu": "NVIDIA H200"}),
                          FILES).reason
    assert "precision fp16 -> fp32" in reason and "tensorrt 10.7.0 -> 10.8.0" in reason


def test_corrupt_or_incomplete_entries_are_rebuilt(tmp_path):
    cache, build = ArtifactCache(tmp_path), CountingBuild()
    folder, _ = cache.get_or_build(_key(), FILES, build)
    (folder / "a.bin").write_bytes(b"truncated")
    lookup = cache.lookup(_key(), FILES)
    assert not lookup.hit and "corrupt" in lookup.reason
    folder, built = cache.get_or_build(_key(), FILES, build)
    assert built and cache.lookup(_key(), FILES).hit and build.calls == 2
    (folder / MANIFEST).unlink()
    assert "no readable manifest" in cache.lookup(_key(), FILES).reason
    cache.get_or_build(_key(), FILES, build)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["key"] == _key().fields() and set(manifest["files"]) == set(FILES)
    assert "lacks c.bin" in cache.lookup(_key(), (*FILES, "c.bin")).reason


def test_a_failed_build_leaves_nothing_behind(tmp_path):
    cache = ArtifactCache(tmp_path)

    def failing(folder):
        (folder / "a.bin").write_bytes(b"half")
        raise RuntimeError("unsupported op")

    with pytest.raises(RuntimeError, match="unsupported op"):
        cache.get_or_build(_key(), FILES, failing)
    with pytest.raises(FileNotFoundError, match="b.bin"):
        cache.get_or_build(_key(), FILES, lambda folder: (folder / "a.bin").write_bytes(b"x"))
    assert list((tmp_path / "tensorrt").iterdir()) == []
    assert not cache.lookup(_key(), FILES).hit


def test_key_validation():
    with pytest.raises(ValueError, match="weights hash"):
        _key(weights_sha256="")
    with pytest.raises(ValueError, match="input_shape"):
        _key(input_shape=(1, 3, 128))
    assert _key().folder_name().startswith("abababababab-224x128-fp16-")
    assert _key().digest() != _key(environment={"tensorrt": "10.7.1", "gpu": "NVIDIA H200"}).digest()
