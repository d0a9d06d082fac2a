"""A keyed on-disk cache of compiled network artefacts (ONNX graphs, TensorRT engines).

An artefact is only valid for the exact weights, input shape and precision it was built for, and a TensorRT engine
only for the TensorRT version and GPU that built it. Every field that decides validity is part of an
:class:`ArtifactKey`; each key has its own folder, so two GPUs or two TensorRT versions sharing a cache never
overwrite each other's engines::

    <root>/<kind>/<weights sha256[:12]>-<W>x<H>-<precision>-<key digest[:10]>/
        manifest.json     # the full key and the sha256 of every artefact file
        encoder.onnx ...  # the artefacts

A lookup that finds no folder for its key says why: nothing was built for these weights yet, or an entry exists for
the same weights whose key differs (another TensorRT version, GPU, precision, input size; the differing fields are
named), or the folder is incomplete or corrupt. A build writes into a temporary folder and renames it into place,
so a concurrent reader (two nodes starting at once) never sees a half-written entry.

Trust boundary: artefacts are deserialised by their runtimes (ONNX Runtime parses protobuf; TensorRT programs are
loaded with ``torch.export.load``, which is not safe for files from others). They are this package's own build
outputs: a file is only loaded from a folder whose manifest matches the key computed here and whose sha256 matches
the manifest, and cache folders are created private to the user (mode 0700). That detects truncated or corrupt
files and stale builds; it does not defend against someone who can write to your cache folder, so never point the
cache at a folder others can write to, and never copy artefacts from sources you do not trust.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LOG = logging.getLogger(__name__)
MANIFEST = "manifest.json"
# Version of the folder layout and manifest format (bump to ignore every older entry).
CACHE_FORMAT_VERSION = 1
# Folder and file mode of the cache: private to the user (see the trust boundary above).
PRIVATE_DIR_MODE = 0o700


def default_cache_dir() -> Path:
    """``$SS3D_CACHE_DIR`` or ``$XDG_CACHE_HOME/ss3d_ros`` (``~/.cache/ss3d_ros``)."""
    if os.environ.get("SS3D_CACHE_DIR"):
        return Path(os.environ["SS3D_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ss3d_ros"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ArtifactKey:
    """Everything that decides whether a cached artefact may be reused.

    Attributes:
        kind: artefact family, also the sub-folder (``onnx``, ``tensorrt``).
        weights_sha256: hex sha256 of the checkpoint weights.
        input_shape: ``(batch, channels, height, width)`` of the image input, pixels.
        precision: ``fp32`` or ``fp16``.
        environment: other validity conditions as strings, e.g. ``{"tensorrt": "10.7.0", "gpu": "NVIDIA H200",
            "graph_format": "2"}``; for ONNX graphs the graph format and opset.
    """

    kind: str
    weights_sha256: str
    input_shape: tuple[int, int, int, int]
    precision: str
    environment: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.weights_sha256:
            raise ValueError("an artefact key needs the weights hash")
        if len(self.input_shape) != 4 or any(int(v) <= 0 for v in self.input_shape):
            raise ValueError(f"input_shape must be 4 positive ints (B, C, H, W), got {self.input_shape}")

    def fields(self) -> dict[str, str]:
        """Flat ``{name: value}`` of every key field (as compared between entries and stored in manifests)."""
        b, c, h, w = self.input_shape
        flat = {
            "cache_format": str(CACHE_FORMAT_VERSION),
            "kind": self.kind,
            "weights_sha256": self.weights_sha256,
            "input_shape": f"{b}x{c}x{h}x{w}",
            "precision": self.precision,
        }
        flat.update({name: str(value) for name, value in sorted(self.environment.items())})
        return flat

    def digest(self) -> str:
        """Hex sha256 of the canonical JSON of :meth:`fields`."""
        return hashlib.sha256(json.dumps(self.fields(), sort_keys=True).encode()).hexdigest()

    def folder_name(self) -> str:
        """``<weights[:12]>-<W>x<H>-<precision>-<digest[:10]>``: readable, and unique per key."""
        _, _, h, w = self.input_shape
        return f"{self.weights_sha256[:12]}-{w}x{h}-{self.precision}-{self.digest()[:10]}"


@dataclass(frozen=True)
class CacheLookup:
    """Result of :meth:`ArtifactCache.lookup`.

    Attributes:
        folder: the key's folder (existing on a hit; where a build goes on a miss).
        hit: the folder holds every requested file, matching its manifest and the key.
        reason: on a miss, why (for the log line announcing the build); empty on a hit.
    """

    folder: Path
    hit: bool
    reason: str = ""


def _read_manifest(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("key"), dict) else None


def _describe_difference(theirs: dict[str, str], ours: dict[str, str]) -> str:
    names = sorted(name for name in set(theirs) | set(ours) if theirs.get(name) != ours.get(name))
    return ", ".join(f"{name} {theirs.get(name, '-')!s} -> {ours.get(name, '-')!s}" for name in names)


class ArtifactCache:
    """Keyed artefact folders under ``root`` (see the module docstring for layout and trust boundary).

    Args:
        root: cache root (default :func:`default_cache_dir`).
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def folder(self, key: ArtifactKey) -> Path:
        """The folder of ``key`` (whether or not it exists)."""
        return self.root / key.kind / key.folder_name()

    def lookup(self, key: ArtifactKey, files: tuple[str, ...]) -> CacheLookup:
        """Is there a complete, intact entry for ``key`` holding ``files``? On a miss, say why.

        Args:
            key: the artefact key.
            files: file names the entry must hold.

        Returns:
            :class:`CacheLookup`. Never raises for a missing or corrupt entry.
        """
        folder = self.folder(key)
        manifest = _read_manifest(folder) if folder.is_dir() else None
        if manifest is not None:
            if manifest["key"] != key.fields():
                return CacheLookup(folder, False, "cached entry was built for another key: "
                                   + _describe_difference(manifest["key"], key.fields()))
            hashes = manifest.get("files", {})
            for name in files:
                path = folder / name
                if name not in hashes or not path.is_file():
                    return CacheLookup(folder, False, f"cached entry {folder} lacks {name}")
                if file_sha256(path) != hashes[name]:
                    return CacheLookup(folder, False, f"cached {path} is corrupt (sha256 differs from its manifest)")
            return CacheLookup(folder, True)
        if folder.is_dir():
            return CacheLookup(folder, False, f"cached entry {folder} has no readable manifest (incomplete build)")
        return CacheLookup(folder, False, self._nearest_entry(key))

    def _nearest_entry(self, key: ArtifactKey) -> str:
        """Why there is no entry: nothing for these weights, or entries whose key differs (which fields)."""
        ours = key.fields()
        kind_dir = self.root / key.kind
        differences = []
        if kind_dir.is_dir():
            for other in sorted(kind_dir.iterdir()):
                manifest = _read_manifest(other) if other.is_dir() else None
                if manifest is not None and manifest["key"].get("weights_sha256") == key.weights_sha256:
                    differences.append(_describe_difference(manifest["key"], ours))
        if not differences:
            return f"no cached {key.kind} artefacts for weights {key.weights_sha256[:12]} in {self.root}"
        return (f"cached {key.kind} artefacts for these weights were built for another key ("
                + "; ".join(differences) + ")")

    def store(self, key: ArtifactKey, files: tuple[str, ...], build: Callable[[Path], None]) -> Path:
        """Run ``build(tmp_folder)``, which must write ``files`` there, and move the result into the key's folder.

        Returns:
            The key's folder. When another process stored the same key meanwhile, its entry is kept and this
            build is discarded.

        Raises:
            FileNotFoundError: ``build`` did not write every file of ``files``.
            Exception: whatever ``build`` raises (the temporary folder is removed).
        """
        final = self.folder(key)
        # New folders are private; an existing root keeps the mode its owner gave it.
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        final.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        try:
            build(tmp)
            missing = [name for name in files if not (tmp / name).is_file()]
            if missing:
                raise FileNotFoundError(f"the build did not write {missing} into {tmp}")
            manifest = {"key": key.fields(), "files": {name: file_sha256(tmp / name) for name in files}}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            if final.is_dir() and self.lookup(key, files).hit:
                return final  # another process won the race with an intact entry
            if final.exists():
                shutil.rmtree(final)  # an incomplete or corrupt entry (the lookup said so before the build)
            tmp.replace(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final

    def get_or_build(
        self,
        key: ArtifactKey,
        files: tuple[str, ...],
        build: Callable[[Path], None],
        log: Callable[[str], None] = LOG.info,
    ) -> tuple[Path, bool]:
        """The key's folder, building it first on a miss (logging why it builds and where it went).

        Returns:
            ``(folder, built)``: ``built`` is false on a cache hit.

        Raises:
            Whatever ``build`` raises.
        """
        found = self.lookup(key, files)
        if found.hit:
            return found.folder, False
        log(f"building {key.kind} artefacts ({key.precision}, input {key.fields()['input_shape']}): {found.reason}")
        folder = self.store(key, files, build)
        log(f"{key.kind} artefacts cached in {folder}")
        return folder, True
