"""The ``colmap_selfcalib`` baseline: intrinsics from COLMAP's incremental SfM self-calibration (via pycolmap).

pycolmap is optional (not in requirements.txt): it is found with ``importlib.util.find_spec`` and imported only in
a child process, so a missing package, a crash inside the C++ library or a run that takes too long all become a
result dict with ``status`` ``unavailable`` / ``failed`` plus a ``reason``, never an exception in the evaluator.

Setup (Schönberger & Frahm 2016, COLMAP defaults unless said): one shared camera for all frames (``SINGLE`` camera
mode), COLMAP's default ``SIMPLE_RADIAL`` model (one focal length ``f``, principal point, one radial term), SIFT on
the CPU, sequential matching, incremental mapping. COLMAP keeps the principal point at the image centre by default
(``ba_refine_principal_point = False``), so only the focal length is self-calibrated; ``fx = fy = f``.

COLMAP puts the centre of the top-left pixel at ``(0.5, 0.5)``; SS3D-ROS (and OpenCV/ROS) at ``(0, 0)``
(:mod:`ss3d_core.camera`), so the principal point is shifted by -0.5 px on the way out.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["MIN_FRAMES", "MAX_FRAMES", "DEFAULT_TIMEOUT_S", "colmap_available", "colmap_selfcalibration"]

LOG = logging.getLogger(__name__)

# Fewest frames worth a self-calibration attempt: two views fix no focal length robustly; three is the minimum
# multi-view configuration (Hartley & Zisserman 2004, ch. 19 auto-calibration).
MIN_FRAMES = 3
# Frames given to COLMAP, evenly subsampled from the sequence: bounds the run time on 2 CPU cores.
MAX_FRAMES = 30
# Wall-clock limit of one COLMAP run (seconds); a run past it is reported as failed.
DEFAULT_TIMEOUT_S = 300.0
# COLMAP's pixel-centre convention differs from SS3D-ROS's by half a pixel (module docstring).
COLMAP_PIXEL_CENTRE_OFFSET = 0.5
# COLMAP's default camera model for self-calibration.
CAMERA_MODEL = "SIMPLE_RADIAL"


def colmap_available() -> tuple[bool, str]:
    """``(True, version)`` when pycolmap is installed, else ``(False, reason)``; imports nothing."""
    try:
        spec = importlib.util.find_spec("pycolmap")
    except (ImportError, ValueError):  # a broken or blocked install
        spec = None
    if spec is None:
        return False, "pycolmap is not installed (optional: pip install pycolmap)"
    try:
        from importlib.metadata import version

        return True, version("pycolmap")
    except Exception:  # metadata missing for an odd install: still usable
        return True, "unknown"


def colmap_selfcalibration(
    root: Path,
    image_names: list[str],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_frames: int = MAX_FRAMES,
) -> dict[str, object]:
    """Self-calibrate one shared camera from the frames of a sequence.

    Args:
        root: folder the ``image_names`` are relative to (the sequence folder).
        image_names: frame paths relative to ``root`` in time order.
        timeout_s: wall-clock limit of the COLMAP child process, seconds.
        max_frames: at most this many frames, evenly spaced, are used.

    Returns:
        ``{"status": "ok", "fx", "fy", "cx", "cy" (pixels at the image size, SS3D-ROS pixel-centre convention),
        "width", "height", "n_images", "n_registered", "camera_model", "seconds", "pycolmap"}``, or
        ``{"status": "unavailable" | "failed" | "skipped", "reason": str}``.
    """
    ok, version = colmap_available()
    if not ok:
        LOG.debug("colmap_selfcalib unavailable: %s", version)
        return {"status": "unavailable", "reason": version}
    if len(image_names) < MIN_FRAMES:
        return {"status": "skipped", "reason": f"fewer than {MIN_FRAMES} frames"}
    picks = np.unique(np.linspace(0, len(image_names) - 1, min(max_frames, len(image_names))).round().astype(int))
    names = [image_names[i] for i in picks]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ss3d_colmap_") as work:
        command = [sys.executable, "-m", __name__, "--root", str(root), "--work", work, "--images", *names]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            LOG.warning("COLMAP on %s did not finish within %g s", root, timeout_s)
            return {"status": "failed", "reason": f"COLMAP did not finish within {timeout_s:g} s"}
    seconds = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"status": "failed", "reason": f"COLMAP child exited {proc.returncode}: {' | '.join(tail)}"}
    result = json.loads(lines[-1])
    result.update(seconds=round(seconds, 2), pycolmap=version)
    return result


def _reconstruct(root: Path, work: Path, names: list[str]) -> dict[str, object]:
    """Runs inside the child process; returns the result dict (see :func:`colmap_selfcalibration`)."""
    import pycolmap

    database = work / "database.db"
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = CAMERA_MODEL
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.use_gpu = False
    pycolmap.extract_features(
        database,
        root,
        image_names=names,
        camera_mode=pycolmap.CameraMode.SINGLE,
        reader_options=reader,
        extraction_options=extraction,
        device=pycolmap.Device.cpu,
    )
    pycolmap.match_sequential(database, device=pycolmap.Device.cpu)
    (work / "sparse").mkdir()
    models = pycolmap.incremental_mapping(database, root, work / "sparse")
    if not models:
        return {"status": "failed", "reason": "COLMAP registered no model (too little parallax or texture)"}
    best = max(models.values(), key=lambda r: r.num_reg_images())
    camera = next(iter(best.cameras.values()))
    return {
        "status": "ok",
        "fx": float(camera.focal_length_x),
        "fy": float(camera.focal_length_y),
        "cx": float(camera.principal_point_x) - COLMAP_PIXEL_CENTRE_OFFSET,
        "cy": float(camera.principal_point_y) - COLMAP_PIXEL_CENTRE_OFFSET,
        "width": int(camera.width),
        "height": int(camera.height),
        "n_images": len(names),
        "n_registered": int(best.num_reg_images()),
        "camera_model": camera.model_name,
    }


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="COLMAP self-calibration child process (prints one JSON line)")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--images", nargs="+", required=True)
    args = parser.parse_args(argv)
    print(json.dumps(_reconstruct(args.root, args.work, args.images)))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
