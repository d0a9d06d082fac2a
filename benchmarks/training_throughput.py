"""Training throughput of the shipped recipe: samples per second and where the time goes, cache against baseline.

Two loops over the same clips, recipe and size, in the same run:

- ``baseline``: the loop before the corpus stage: every clip decoded and given its flow in RAM at setup, and the
  triangulated labels' pose fitted per sample with OpenCV inside ``training_step`` (the cached fundamental matrices
  are withheld from the batch, so the labels fit them in the step, as the five-point fit did).
- ``cache``: the corpus-stage loop: clips memory-mapped from the on-disk cache (``prepare_data``), the labels'
  geometry read from it, only tensor work in the step.

For each it times ``--steps`` optimisation steps after ``--warmup`` and splits them into data (waiting for the
batch), forward (the network), losses and backward (with the optimiser step). It also reports the time to build the
cache (cold) and to open it again (warm). On a CUDA device (``--device cuda``, the default when one is visible) the
step runs there; the data path is the same. Example (about 5 minutes on 2 cores)::

    .venv/bin/python -m benchmarks.training_throughput --output out/bench/training_throughput.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from ss3d_core.network import SS3DNetConfig
from training.clip_frames import load_clip_frames
from training.clips import read_clip_index
from training.datamodule import ClipDataModule, TripletDataset, split_indices
from training.module import SS3DLightningModule

# The shipped recipe (training/configs/warm_dashcam_labels.yaml, stage 9): size, batch and loss weights.
RECIPE = dict(lr=1.0e-3, flow_weight=2.0, epipolar_weight=8.0, triangulation_weight=1.0)
HEIGHT, WIDTH, BATCH, MIN_CROP = 128, 224, 8, 0.7
DEFAULT_CLIPS = ("udacity_highway_solidwhiteright", "rtabmap_corridor_walk", "chrono_elephant_room",
                 "realsense_office_desk")


class PhaseTimer:
    """Wall time of the network's forward calls inside a step (synchronised on CUDA)."""

    def __init__(self, net: torch.nn.Module, device: torch.device):
        self.seconds = 0.0
        self.device = device
        for name in ("encode", "predict_motion", "predict_depth"):
            setattr(net, name, self._timed(getattr(net, name)))

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _timed(self, fn):
        def wrapper(*args, **kwargs):
            self._sync()
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            self._sync()
            self.seconds += time.perf_counter() - start
            return out

        return wrapper


def _to(batch: dict, device: torch.device, keep_geometry: bool) -> dict:
    out = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
    if not keep_geometry:
        out.pop("fundamental", None)
        out.pop("inlier_fraction", None)
    return out


def time_loop(loader, device: torch.device, steps: int, warmup: int, keep_geometry: bool) -> dict[str, float]:
    """Run ``warmup + steps`` optimisation steps of the recipe; per-phase seconds per step and samples/s."""
    torch.manual_seed(0)
    module = SS3DLightningModule(net=SS3DNetConfig(input_height=HEIGHT, input_width=WIDTH), **RECIPE).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=RECIPE["lr"])
    timer = PhaseTimer(module.net, device)
    totals = {"data": 0.0, "forward": 0.0, "losses": 0.0, "backward": 0.0}
    batches = iter(loader)
    for k in range(warmup + steps):
        if k == warmup:
            totals = dict.fromkeys(totals, 0.0)
            timer.seconds = 0.0
        start = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        batch = _to(batch, device, keep_geometry)
        fetched = time.perf_counter()
        forward_before = timer.seconds
        terms, _ = module._step(batch, augment=True)
        timer._sync()
        stepped = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizer.step()
        timer._sync()
        done = time.perf_counter()
        forward = timer.seconds - forward_before
        totals["data"] += fetched - start
        totals["forward"] += forward
        totals["losses"] += stepped - fetched - forward
        totals["backward"] += done - stepped
    per_step = {k: v / steps for k, v in totals.items()}
    per_step["samples_per_s"] = BATCH / sum(per_step.values())
    return per_step


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print/write its table (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="../shared/data/web_clips", help="clip corpus folder")
    parser.add_argument("--clips", nargs="+", default=list(DEFAULT_CLIPS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="loader workers of the cache loop")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    L.seed_everything(0, verbose=False)
    specs = [s for s in read_clip_index(args.root) if s.name in args.clips]
    if not specs:
        parser.error(f"none of {args.clips} in {args.root}")

    start = time.perf_counter()
    clips = [load_clip_frames(s, HEIGHT, WIDTH, 10.0, True) for s in specs]
    baseline_setup = time.perf_counter() - start
    train, _ = split_indices(clips, 0.1)
    baseline_loader = torch.utils.data.DataLoader(TripletDataset(clips, train, True, MIN_CROP), batch_size=BATCH,
                                                  shuffle=True, drop_last=True)
    baseline = time_loop(baseline_loader, device, args.steps, args.warmup, keep_geometry=False)
    baseline["setup_s"] = baseline_setup

    cache_dir = Path(tempfile.mkdtemp(prefix="ss3d_bench_cache_"))
    try:
        data = ClipDataModule(root=args.root, clips=[s.name for s in specs], height=HEIGHT, width=WIDTH,
                              batch_size=BATCH, num_workers=args.workers, min_crop_fraction=MIN_CROP,
                              cache_dir=str(cache_dir))
        start = time.perf_counter()
        data.prepare_data()
        build = time.perf_counter() - start
        start = time.perf_counter()
        data.setup()
        warm = time.perf_counter() - start
        cached = time_loop(data.train_dataloader(), device, args.steps, args.warmup, keep_geometry=True)
        cached.update(cache_build_s=build, setup_s=warm)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)

    result = {"device": str(device), "torch_threads": torch.get_num_threads(), "clips": [s.name for s in specs],
              "batch": BATCH, "size": [HEIGHT, WIDTH], "steps": args.steps, "baseline": baseline, "cache": cached,
              "speedup": cached["samples_per_s"] / baseline["samples_per_s"]}
    rows = ["| loop | samples/s | data | forward | losses | backward | setup s |", "|---|---|---|---|---|---|---|"]
    for name in ("baseline", "cache"):
        r = result[name]
        rows.append(f"| {name} | {r['samples_per_s']:.2f} | " + " | ".join(
            f"{1000 * r[k]:.0f} ms" for k in ("data", "forward", "losses", "backward")) + f" | {r['setup_s']:.1f} |")
    rows.append(f"\ncache/baseline: {result['speedup']:.2f}x; cache build (cold) {cached['cache_build_s']:.1f} s, "
                f"open (warm) {cached['setup_s']:.2f} s; device {device}, {torch.get_num_threads()} torch threads")
    print("\n".join(rows))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
