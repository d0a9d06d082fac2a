"""Training throughput: samples per second of the shipped recipe and of the pipeline's stage 1, and where the time goes.

Three loops (a fourth with ``--compile``) over the same clips and training size, in the same run:

- ``baseline``: the loop before the corpus stage: every clip decoded and given its flow in RAM at setup, and the
  triangulated labels' pose fitted per sample with OpenCV inside ``training_step`` (the cached fundamental matrices
  are withheld from the batch, so the labels fit them in the step, as the five-point fit did); the shipped recipe.
- ``cache``: the corpus-stage loop (clips memory-mapped from the on-disk cache, only tensor work in the step) with the
  shipped recipe: ``base.yaml`` + ``warm_dashcam_labels.yaml`` (stage 9: rigid flow, epipolar and triangulated-label
  terms) and the training step's settings in ``base.yaml`` (``loss_scales``, ``network_precision``,
  ``channels_last``). Its ``samples_per_s`` is the number to compare across commits: run this file in both trees.
- ``stage1``: the same loop with the pipeline's stage 1 (``base.yaml`` + ``training.pipeline.schedule.STAGE1``).
- ``cache_compiled`` (``--compile``): the ``cache`` loop again with ``compile_network: true`` (the network's parts
  compiled by ``torch.compile``, :mod:`training.fit.compiled_network`); the table adds its samples/s over the
  ``cache`` loop's (same run) and its one-off compilation: its first step's wall time less the ``cache`` loop's first
  step (both include the one-off costs of a first step; only the compiled one builds kernels). The kernels are built
  cold, in a fresh Inductor cache (``TORCHINDUCTOR_CACHE_DIR``), as by a first training run on a machine, unless
  ``--inductor-cache DIR`` names a folder to keep (a second run with it measures a warm start).

Each loop times ``--steps`` optimisation steps after ``--warmup`` and splits them into data (waiting for the batch),
forward (the network), losses and backward (with the optimiser step); the losses' forward time is split further into
colour augmentation, SSIM, warps, smoothness and the flow terms (rigid flow, epipolar, triangulated labels). It also
reports the time to build the cache (cold) and to open it again (warm), and each loop's first step and warmup wall
time. The timed steps of a compiled loop run under ``torch.compiler.set_stance("fail_on_recompile")``: a graph built
after the warmup (a recompilation inside the timing) stops the run instead of inflating the step time. On a CUDA
device (``--device cuda``, the default when one is visible) the step runs there; the data path is the same. Examples
(about 6 minutes on 2 cores; the second, eager against compiled only, adds the compilation, minutes on 2 cores with
an empty Inductor cache)::

    .venv/bin/python -m benchmarks.training_throughput --output out/bench/training_throughput.json
    .venv/bin/python -m benchmarks.training_throughput --loops cache --compile --output out/bench/tp_compile.json

Timings mean something only on an otherwise idle machine: on 2 cores, any other busy process (even at nice 19) stalls
torch's two OpenMP threads at every parallel region (measured: 2-6× slower steps).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
import yaml

import ss3d_core.losses.photometric as photometric
import ss3d_core.losses.view_synthesis as view_synthesis
import training.fit.module as module_code
from ss3d_core.network import SS3DNetConfig
from training.data.clip_frames import load_clip_frames
from training.data.clips import read_clip_index
from training.fit.cli import BASE_CONFIG, CONFIG_DIR
from training.fit.compiled_network import compiled_parts
from training.fit.datamodule import ClipDataModule, TripletDataset, split_indices
from training.fit.module import SS3DLightningModule
from training.pipeline.schedule import STAGE1

# The shipped recipe (stage 9) and the pipeline's stage 1, each base.yaml plus its override.
RECIPES = {"cache": (BASE_CONFIG, CONFIG_DIR / "warm_dashcam_labels.yaml"),
           "stage1": (BASE_CONFIG, *STAGE1)}
BATCH, MIN_CROP = 8, 0.7
DEFAULT_CLIPS = ("udacity_highway_solidwhiteright", "rtabmap_corridor_walk", "chrono_elephant_room",
                 "realsense_office_desk")
# Loss phases timed inside the step: (module, attribute) of each function, grouped by phase name.
LOSS_PHASES = {
    "colour_aug": (),  # the module's kornia augmentation, wrapped per instance
    "ssim": ((photometric, "ssim"),),
    "warps": ((view_synthesis, "inverse_warp"),),
    "smoothness": ((view_synthesis, "edge_aware_smoothness"),),
    "flow_terms": ((module_code, "rigid_flow"), (module_code, "flow_consistency_loss"),
                   (module_code, "epipolar_flow_loss"), (module_code, "triangulated_labels")),
}


def recipe(configs: tuple[Path, ...]) -> dict:
    """The ``model`` section of ``configs`` merged in order (LightningCLI's rule for plain keys)."""
    merged: dict = {}
    for path in configs:
        merged.update((yaml.safe_load(path.read_text()) or {}).get("model") or {})
    return merged


class PhaseTimer:
    """Forward wall time of named phases of a step (synchronised on CUDA); nested calls count once."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = {}
        self._depth = 0
        self._undo: list[Callable[[], None]] = []

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def wrap(self, owner: object, name: str, phase: str) -> None:
        """Time every call of ``owner.name`` as ``phase`` (undone by :meth:`restore`)."""
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            if self._depth:
                return original(*args, **kwargs)
            self._depth += 1
            self._sync()
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._sync()
                self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start
                self._depth -= 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


@contextmanager
def timed_module(module: SS3DLightningModule, device: torch.device):
    """A :class:`PhaseTimer` over the module's network calls and the loss phases of :data:`LOSS_PHASES`."""
    timer = PhaseTimer(device)
    for name in ("encode", "predict_motion", "predict_depth"):
        timer.wrap(module.net, name, "network")
    timer.wrap(module.color_aug, "forward", "colour_aug")
    for phase, targets in LOSS_PHASES.items():
        for owner, name in targets:
            timer.wrap(owner, name, phase)
    try:
        yield timer
    finally:
        timer.restore()


def _to(batch: dict, device: torch.device, keep_geometry: bool) -> dict:
    out = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
    if not keep_geometry:
        out.pop("fundamental", None)
        out.pop("inlier_fraction", None)
    return out


def time_loop(loader, device: torch.device, model_args: dict, steps: int, warmup: int,
              keep_geometry: bool) -> dict[str, float]:
    """Run ``warmup + steps`` optimisation steps of a recipe; per-phase seconds per step, samples/s, the first step's
    and the whole warmup's wall time (s) and the network parts compiled (``compile_network``).

    Raises:
        RuntimeError: a compiled part builds a graph during the timed steps (raise ``warmup``).
    """
    torch.manual_seed(0)
    net = SS3DNetConfig(**model_args.get("net", {}))
    kwargs = {k: v for k, v in model_args.items() if k not in ("net", "init_from")}
    module = SS3DLightningModule(net=net, **kwargs).to(device)
    module.setup("fit")  # the Trainer's hook: compiles the network's parts when compile_network is set
    compiled = compiled_parts(module.net)
    if warmup < 1 and compiled:
        raise ValueError("a compiled loop needs --warmup >= 1: the first step builds the kernels")
    optimizer = torch.optim.Adam(module.parameters(), lr=kwargs.get("lr", 1e-4))
    totals = {"data": 0.0, "forward": 0.0, "losses": 0.0, "backward": 0.0}
    batches = iter(loader)
    first_step = warmup_s = 0.0
    with timed_module(module, device) as timer, contextlib.ExitStack() as timing:
        loop_start = time.perf_counter()
        for k in range(warmup + steps):
            if k == warmup:
                warmup_s = time.perf_counter() - loop_start
                totals = dict.fromkeys(totals, 0.0)
                timer.seconds.clear()
                if compiled:
                    timing.enter_context(torch.compiler.set_stance("fail_on_recompile"))
            start = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                batches = iter(loader)
                batch = next(batches)
            batch = _to(batch, device, keep_geometry)
            fetched = time.perf_counter()
            network_before = timer.seconds.get("network", 0.0)
            terms, _ = module._step(batch, augment=True)
            timer._sync()
            stepped = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            optimizer.step()
            timer._sync()
            done = time.perf_counter()
            forward = timer.seconds.get("network", 0.0) - network_before
            totals["data"] += fetched - start
            totals["forward"] += forward
            totals["losses"] += stepped - fetched - forward
            totals["backward"] += done - stepped
            if k == 0:
                first_step = done - start
        phases = {phase: timer.seconds.get(phase, 0.0) / steps for phase in LOSS_PHASES}
    per_step = {k: v / steps for k, v in totals.items()}
    per_step["samples_per_s"] = BATCH / sum(per_step.values())
    per_step["loss_phases"] = phases
    per_step.update(first_step_s=first_step, warmup_s=warmup_s, compiled_parts=compiled)
    return per_step


def _table(result: dict, loops: list[str]) -> str:
    rows = ["| loop | samples/s | data | forward | losses | backward | setup s | first step s |",
            "|---|---|---|---|---|---|---|---|"]
    for name in loops:
        r = result[name]
        rows.append(f"| {name} | {r['samples_per_s']:.2f} | " + " | ".join(
            f"{1000 * r[k]:.0f} ms" for k in ("data", "forward", "losses", "backward"))
            + f" | {r['setup_s']:.1f} | {r['first_step_s']:.1f} |")
    rows += ["", "| loop | " + " | ".join(LOSS_PHASES) + " | other |", "|---|" + "---|" * (len(LOSS_PHASES) + 1)]
    for name in loops:
        r = result[name]
        other = r["losses"] - sum(r["loss_phases"].values())
        rows.append(f"| {name} | " + " | ".join(f"{1000 * v:.0f} ms" for v in r["loss_phases"].values())
                    + f" | {1000 * other:.0f} ms |")
    return "\n".join(rows)


def _payback(compiled: dict, eager: dict, compile_s: float) -> str:
    """Steps after which the compiled loop's saved step time has repaid ``compile_s``, in words."""
    saved = BATCH / eager["samples_per_s"] - BATCH / compiled["samples_per_s"]
    return f"{compile_s / saved:.0f} steps" if saved > 0 else "never (no step is faster)"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print/write its table (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="../shared/data/web_clips", help="clip corpus folder")
    parser.add_argument("--clips", nargs="+", default=list(DEFAULT_CLIPS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="loader workers of the cache loops")
    parser.add_argument("--loops", nargs="+", choices=("baseline", "cache", "stage1"),
                        default=["baseline", "cache", "stage1"])
    parser.add_argument("--compile", action="store_true",
                        help="run the cache loop again with compile_network: true (cache_compiled; needs cache)")
    parser.add_argument("--inductor-cache", type=Path,
                        help="Inductor cache folder of --compile, kept (default: a fresh one, a cold compilation)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if args.compile and "cache" not in args.loops:
        parser.error("--compile compares against the cache loop: keep cache in --loops")
    device = torch.device(args.device)
    L.seed_everything(0, verbose=False)
    specs = [s for s in read_clip_index(args.root) if s.name in args.clips]
    if not specs:
        parser.error(f"none of {args.clips} in {args.root}")
    recipes = {name: recipe(configs) for name, configs in RECIPES.items()}
    if args.compile:
        recipes["cache_compiled"] = {**recipes["cache"], "compile_network": True}
    height, width = recipes["cache"]["net"]["input_height"], recipes["cache"]["net"]["input_width"]
    result = {"device": str(device), "torch_threads": torch.get_num_threads(), "clips": [s.name for s in specs],
              "batch": BATCH, "size": [height, width], "steps": args.steps, "recipes": recipes}

    if "baseline" in args.loops:
        start = time.perf_counter()
        clips = [load_clip_frames(s, height, width, 10.0, True) for s in specs]
        baseline_setup = time.perf_counter() - start
        train, _ = split_indices(clips, 0.1)
        loader = torch.utils.data.DataLoader(TripletDataset(clips, train, True, MIN_CROP), batch_size=BATCH,
                                             shuffle=True, drop_last=True)
        result["baseline"] = time_loop(loader, device, recipes["cache"], args.steps, args.warmup, keep_geometry=False)
        result["baseline"]["setup_s"] = baseline_setup

    cache_dir = Path(tempfile.mkdtemp(prefix="ss3d_bench_cache_"))
    # Inductor reads its cache folder from the environment at every lookup (importing torch may already have set it).
    fresh_inductor_cache = args.compile and not args.inductor_cache
    if args.compile:
        inductor_cache = args.inductor_cache or Path(tempfile.mkdtemp(prefix="ss3d_bench_inductor_"))
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(inductor_cache.resolve())
        result["inductor_cache"] = str(args.inductor_cache) if args.inductor_cache else "cold (fresh folder)"
    try:
        data = ClipDataModule(root=args.root, clips=[s.name for s in specs], height=height, width=width,
                              batch_size=BATCH, num_workers=args.workers, min_crop_fraction=MIN_CROP,
                              cache_dir=str(cache_dir))
        start = time.perf_counter()
        data.prepare_data()
        build = time.perf_counter() - start
        start = time.perf_counter()
        data.setup()
        warm = time.perf_counter() - start
        for name in ("cache", "cache_compiled", "stage1"):
            if name in args.loops or (name == "cache_compiled" and args.compile):
                result[name] = time_loop(data.train_dataloader(), device, recipes[name], args.steps, args.warmup,
                                         keep_geometry=True)
                result[name].update(cache_build_s=build, setup_s=warm)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
        if fresh_inductor_cache:
            shutil.rmtree(inductor_cache, ignore_errors=True)

    loops = [name for name in ("baseline", "cache", "cache_compiled", "stage1") if name in result]
    text = _table(result, loops) + "\n"
    if "baseline" in result and "cache" in result:
        result["speedup"] = result["cache"]["samples_per_s"] / result["baseline"]["samples_per_s"]
        text += f"\ncache/baseline: {result['speedup']:.2f}x"
    if "cache_compiled" in result:
        compiled, eager = result["cache_compiled"], result["cache"]
        result["compile_speedup"] = compiled["samples_per_s"] / eager["samples_per_s"]
        result["compile_s"] = compiled["first_step_s"] - eager["first_step_s"]
        text += (f"\ncache_compiled/cache: {result['compile_speedup']:.2f}x; compilation (first step less the eager "
                 f"one) {result['compile_s']:.1f} s, pays back after {_payback(compiled, eager, result['compile_s'])}")
    text += (f"\ncache build (cold) {build:.1f} s, open (warm) {warm:.2f} s; device {device}, "
             f"{torch.get_num_threads()} torch threads")
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
