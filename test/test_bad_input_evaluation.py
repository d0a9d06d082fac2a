"""Bad-input matrix, evaluation side: a sequence that cannot be read is reported and skipped, never fatal to the run."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from test_evaluation import copy_sequence

from ss3d_eval.cli import main


def _first(root: Path, kind: str) -> Path:
    return sorted((root / kind).glob("*.png"))[0]


def _damaged_sequences(tmp_path: Path) -> dict[str, Path]:
    """Copies of the real fixture pair, each damaged one way."""
    truncated = copy_sequence(tmp_path, "truncated_png")
    png = _first(truncated, "rgb")
    png.write_bytes(png.read_bytes()[: png.stat().st_size // 2])

    depth_8bit = copy_sequence(tmp_path, "depth_8bit")
    depth = cv2.imread(str(_first(depth_8bit, "depth")), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(_first(depth_8bit, "depth")), (depth // 256).astype(np.uint8))

    depth_size = copy_sequence(tmp_path, "depth_half_size")
    cv2.imwrite(str(_first(depth_size, "depth")), cv2.resize(depth, (320, 240), interpolation=cv2.INTER_NEAREST))

    empty = copy_sequence(tmp_path, "empty")
    (empty / "rgb.txt").write_text("# timestamp filename\n")

    bad_list = copy_sequence(tmp_path, "bad_rgb_list")
    (bad_list / "rgb.txt").write_text("# timestamp filename\nnot-a-time rgb/x.png\n")
    return {p.name: p for p in (truncated, depth_8bit, depth_size, empty, bad_list)}


def _evaluate(tiny_checkpoint, sequences: list[Path], output: Path) -> int:
    return main(["--checkpoint", str(tiny_checkpoint), "--backend", "torch", "--no-colmap", "--figures", "0",
                 "--output", str(output), "--sequences", *map(str, sequences)])


def test_unreadable_sequences_are_reported_and_the_rest_scored(tiny_checkpoint, tmp_path):
    damaged = _damaged_sequences(tmp_path)
    good = copy_sequence(tmp_path, "good")
    output = tmp_path / "eval" / "report.json"
    ordered = list(damaged.values())
    ordered.insert(2, good)  # failures before and after it
    assert _evaluate(tiny_checkpoint, ordered, output) == 0
    report = json.loads(output.read_text())
    assert list(report["sequences"]) == ["good"] and report["sequences"]["good"]["pose"]["n_pairs"] == 1
    failed = report["failed"]
    assert set(failed) == {"truncated_png", "depth_8bit", "depth_half_size", "bad_rgb_list"}
    assert "cannot decode image" in failed["truncated_png"]
    assert "uint8" in failed["depth_8bit"] and "8-bit" in failed["depth_8bit"]
    assert "is 320×240 but its image is 640×480" in failed["depth_half_size"]
    assert "rgb.txt:2" in failed["bad_rgb_list"] and "not-a-time" in failed["bad_rgb_list"]
    assert report["warnings"] == ["empty: rgb.txt lists no frame; nothing to score"]
    assert report["aggregate"]["intrinsics"]["n_sequences"] == 1
    markdown = output.with_suffix(".md").read_text()
    assert "## Sequences not scored" in markdown
    for name in (*failed, "empty"):
        assert f"- {name}:" in markdown


def test_nothing_scored_still_writes_the_report_and_exits_1(tiny_checkpoint, tmp_path):
    damaged = _damaged_sequences(tmp_path)
    output = tmp_path / "eval" / "report.json"
    assert _evaluate(tiny_checkpoint, [damaged["empty"], damaged["depth_8bit"]], output) == 1
    report = json.loads(output.read_text())
    assert report["sequences"] == {} and list(report["failed"]) == ["depth_8bit"] and len(report["warnings"]) == 1
