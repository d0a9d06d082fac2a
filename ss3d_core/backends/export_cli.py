"""``ss3d_export``: build a checkpoint's ONNX graphs or TensorRT engines ahead of time, into the artefact cache.

    ss3d_export --checkpoint PATH --format onnx
    ss3d_export --checkpoint PATH --format tensorrt [--precision fp16|fp32]   # on the robot's GPU
    ss3d_export --format tensorrt --cache-dir /opt/ss3d/engines                # a given folder

The artefacts go into the same keyed cache the node and ``ss3d_eval`` read (``$SS3D_CACHE_DIR`` or
``~/.cache/ss3d_ros``; with ``--cache-dir``, point the node's ``cache_dir`` parameter or ``SS3D_CACHE_DIR`` there),
so their first start loads instead of building. A TensorRT engine only runs with the TensorRT version and GPU model
that built it: build it on the target (the cache keys both, and a mismatch rebuilds). Prints where the artefacts
are. Exit status: 0 built or already cached, 1 the build failed or cannot run here, 2 bad arguments or checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

LOG = logging.getLogger("ss3d_export")
FORMATS = ("onnx", "tensorrt")


def build_parser() -> argparse.ArgumentParser:
    """The ``ss3d_export`` argument parser."""
    parser = argparse.ArgumentParser(prog="ss3d_export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="SS3D checkpoint NAME[.safetensors|.json] (default: the bundled one)")
    parser.add_argument("--format", required=True, choices=FORMATS, help="onnx (any machine) or tensorrt (GPU)")
    parser.add_argument("--precision", default="fp16", choices=("fp16", "fp32"),
                        help="TensorRT precision (default fp16); ONNX graphs are always fp32")
    parser.add_argument("--cache-dir", help="cache root to write into (default: $SS3D_CACHE_DIR or ~/.cache/ss3d_ros)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the export; see the module docstring for the exit status."""
    logging.basicConfig(level=logging.INFO, format="[ss3d_export] %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    from ss3d_core.backends.artifact_cache import ArtifactCache
    from ss3d_core.backends.base import BackendUnavailable
    from ss3d_core.checkpoint import CheckpointError, bundled_checkpoint, load_checkpoint

    checkpoint = args.checkpoint or str(bundled_checkpoint())
    try:
        model, metadata = load_checkpoint(checkpoint)
    except CheckpointError as err:
        parser.error(f"--checkpoint: {err}")
    cache = ArtifactCache(args.cache_dir)
    start = time.perf_counter()
    try:
        if args.format == "onnx":
            from ss3d_core.backends.onnx_export import cached_onnx

            paths = cached_onnx(model, metadata, cache)
            precision = "fp32"
        else:
            from ss3d_core.backends.tensorrt_export import cached_tensorrt

            paths = cached_tensorrt(model, metadata, args.precision, cache, log=LOG.info)
            precision = args.precision
    except BackendUnavailable as err:
        LOG.error("cannot build %s artefacts here: %s", args.format, err)
        return 1
    except Exception as err:  # exporters and compilers raise many types; all mean "no artefact"
        LOG.error("%s build failed: %s: %s", args.format, type(err).__name__, err)
        return 1
    folder = paths[0].parent
    width, height = model.config.input_width, model.config.input_height
    print(f"{args.format} {precision} artefacts of {checkpoint} ({width}x{height}) in {folder} "
          f"({time.perf_counter() - start:.1f} s):")
    for path in paths:
        print(f"  {path}")
    if args.cache_dir:
        print(f"the node finds them with -p cache_dir:={cache.root} (or SS3D_CACHE_DIR={cache.root}); "
              f"ss3d_eval with SS3D_CACHE_DIR={cache.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
