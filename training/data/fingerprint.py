"""What a clip's frames depend on: its kind, topic and the content hash of every source file.

The training cache (:mod:`training.corpus.cache`) and the SfM store (:mod:`training.sfm.store`) key their entries on
it, so a corpus copied to another machine, restored from a backup or mounted anew keeps both.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from training.data.clips import ClipSpec

__all__ = ["source_fingerprint"]


def source_fingerprint(spec: ClipSpec) -> dict[str, object]:
    """What a clip's frames depend on: kind, topic and ``(relative path, size, SHA-256 hex)`` of every source file.

    The content, not the modification time: a corpus copied to another machine, restored from a backup or mounted
    anew keeps its cache and SfM store entries (hashing is about 1 s per GB; the 140 MB of web clips take 0.2 s).

    Raises:
        FileNotFoundError: the clip's source does not exist.
    """
    source = spec.source_path()
    if not source.exists():
        raise FileNotFoundError(f"clip {spec.name}: {source} does not exist")
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    stats = [(str(p.relative_to(source.parent)), p.stat().st_size, _sha256(p)) for p in files]
    return {"kind": spec.kind, "topic": spec.topic, "consecutive": spec.consecutive, "files": stats}


def _sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (streamed)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
