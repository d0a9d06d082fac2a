"""On-disk training cache: each clip decoded, resized and given its DIS flow once per training size, then memory-mapped.

Layout: ``<cache_dir>/<H>x<W>_<rate>hz_<flow>/<clip>-<key>/`` with one ``.npy`` per array of
:class:`training.data.clip_frames.ClipFrames` (``frames`` uint8, ``flow_forward``/``flow_backward`` float16,
``valid_forward``/``valid_backward`` bool, the labels' cached fundamental matrices and inlier fractions) and
``meta.json``, written last, which marks the entry complete. The key hashes everything the arrays depend on: the
cache format, the clip's kind, topic and source files (relative path, size and SHA-256 of the content of every file,
not their modification times, which change whenever a data folder is copied or restored), the training size, the
frame rate and the flow check. A changed clip, size or rate therefore lands in a new entry (the
old one is simply no longer read), and runs, stages and DDP ranks that agree on those share the entry. Entries are
written to a temporary folder and renamed into place, so an interrupted build leaves nothing half-written behind.

Readers memory-map the arrays (``np.load(mmap_mode="r")``): a process touches only the pages of the samples it
draws, so each DDP rank reads only its shard of the corpus, and nothing is decoded or recomputed at ``setup``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from training.data.clip_frames import ClipFrames, load_clip_frames
from training.data.clips import ClipSpec
from training.data.fingerprint import source_fingerprint

LOG = logging.getLogger(__name__)

# Bump when the stored arrays change meaning (flow method, mask rule, resize): old entries are then never read.
CACHE_FORMAT_VERSION = 1
ARRAYS = ("frames", "flow_forward", "valid_forward", "flow_backward", "valid_backward", "fundamental_forward",
          "inliers_forward", "fundamental_backward", "inliers_backward")


def entry_dir(
    cache_dir: Path, spec: ClipSpec, height: int, width: int, target_rate_hz: float, flow_match_check: bool
) -> Path:
    """The cache folder of one clip at one training size and rate (see the module docstring)."""
    key_source = {
        "format": CACHE_FORMAT_VERSION,
        "clip": source_fingerprint(spec),
        "size": [height, width],
        "rate_hz": target_rate_hz,
        "flow_match_check": flow_match_check,
    }
    key = hashlib.sha1(json.dumps(key_source, sort_keys=True).encode()).hexdigest()[:16]
    group = f"{height}x{width}_{target_rate_hz:g}hz_{'checked' if flow_match_check else 'raw'}"
    return Path(cache_dir) / group / f"{spec.name}-{key}"


def is_complete(folder: Path) -> bool:
    """True when ``folder`` holds a finished cache entry."""
    return (folder / "meta.json").is_file()


def build_entry(
    spec: ClipSpec, cache_dir: Path, height: int, width: int, target_rate_hz: float, flow_match_check: bool
) -> tuple[Path, bool]:
    """Make sure the clip's entry exists; decode and compute it only when it does not.

    Returns:
        ``(folder, built)``: the entry and whether this call computed it (False on a cache hit).
    """
    folder = entry_dir(cache_dir, spec, height, width, target_rate_hz, flow_match_check)
    if is_complete(folder):
        return folder, False
    clip = load_clip_frames(spec, height, width, target_rate_hz, flow_match_check)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=folder.parent))
    try:
        for name in ARRAYS:
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(clip, name)))
        meta = {"name": clip.name, "n_frames": int(len(clip.frames)), "segments": clip.segments,
                "format": CACHE_FORMAT_VERSION, "height": height, "width": width, "rate_hz": target_rate_hz,
                "flow_match_check": flow_match_check, "source": str(spec.source_path())}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        try:
            os.rename(tmp, folder)
        except OSError:  # another process (a DDP rank, a parallel run) finished the same entry first
            if not is_complete(folder):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder, True


def load_entry(folder: Path) -> ClipFrames:
    """Memory-map a finished entry as read-only :class:`ClipFrames`.

    Raises:
        FileNotFoundError: the entry is missing or incomplete.
    """
    if not is_complete(folder):
        raise FileNotFoundError(f"{folder}: no finished cache entry (build it with prepare_data first)")
    meta = json.loads((folder / "meta.json").read_text())
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in ARRAYS}
    return ClipFrames(name=meta["name"], segments=[tuple(s) for s in meta["segments"]], **arrays)
