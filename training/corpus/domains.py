"""Domains of the filtered corpus, for SS3D's experts (GUIDE §1): each kept clip is assigned one domain from its MVS
components (:mod:`training.corpus.mvs`, the ``segment = all`` row of ``scores.csv``), so that every expert learns one
kind of camera motion and scene depth.

The rule reads two physical quantities of the clip's analysed pairs (medians over pairs):

1. ``forward`` (driving): the epipole, i.e. the direction of translation, lies within :data:`FORWARD_EPIPOLE_MAX`
   image widths of the image centre (``epipole_offset``): the camera moves along its optical axis, as a car does.
   Rotation does not move the epipole, so turning does not change the domain. Measured (6 pairs per clip): Udacity
   dashcam 0.04, KITTI raw 0.01; hand-held walks 0.18-0.23 (their epipole wanders with the gait), drones 0.66-8.5,
   orbits and photo sets 9-10 (sideways translation).
2. Otherwise ``near_field`` when the relative depth range is at least :data:`NEAR_FIELD_MIN_RELATIVE_DEPTH`, else
   ``far_field`` (aerial, landscapes, distant facades). The relative depth range is the residual parallax after the
   best homography over the total image motion, both as angles (``parallax_deg / atan(displacement / f)`` with the
   generic focal length ``f = 0.8 W``): for a translation ``t`` and depth ``Z``, image motion is ``~ f t / Z`` and
   the parallax w.r.t. the dominant plane is ``~ f t ΔZ / Z²``, so the ratio is ``~ ΔZ / Z``: large for a room or a
   table top (depth spans a multiple of the distance), small for a scene far away relative to its relief.
   Rotation adds image motion without parallax, so orbits and pans lower the ratio; on the 13 clips chosen by hand
   as near field (``near_field_expert.yaml``, retired; docs/experiments.md) 9 are at or above 0.05 and 4 below
   (0.02-0.04), and of the far-field drone and sports clips 3 are above; the split is a physical proxy, not a scene
   classifier.

Clips the MVS filter drops (:func:`training.corpus.curriculum.kept_segments`: no segment with ``mvs_score >=
min_score``) get no domain. ``domains.csv`` has one row per kept clip:
``name, domain, mvs_score, epipole_offset, relative_depth``.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

from ss3d_eval.baselines.default_k import GUESS_FOCAL_PER_WIDTH
from training.corpus.curriculum import DEFAULT_MVS_MIN_SCORE, kept_segments, read_segment_scores

__all__ = [
    "DOMAINS",
    "FORWARD_EPIPOLE_MAX",
    "NEAR_FIELD_MIN_RELATIVE_DEPTH",
    "assign_domain",
    "domain_clips",
    "read_domains",
    "relative_depth",
    "write_domains",
]

DOMAINS = ("forward", "near_field", "far_field")
# Translation within ~7° of the optical axis (atan(0.1 / 0.8)): cars, not hand-held walks (see the docstring).
FORWARD_EPIPOLE_MAX = 0.1
# Relative depth range separating near-field from far-field scenes (see the docstring for the measured split).
NEAR_FIELD_MIN_RELATIVE_DEPTH = 0.05
COLUMNS = ("name", "domain", "mvs_score", "epipole_offset", "relative_depth")


def relative_depth(parallax_deg: float, displacement: float) -> float:
    """``ΔZ / Z`` proxy: ``parallax_deg`` (degrees) over the median image motion ``displacement`` (fraction of the
    width) as an angle under the generic focal length; NaN when there is no motion or a value is missing."""
    if not (math.isfinite(parallax_deg) and math.isfinite(displacement)) or displacement <= 0:
        return math.nan
    return parallax_deg / math.degrees(math.atan(displacement / GUESS_FOCAL_PER_WIDTH))


def assign_domain(epipole_offset: float, parallax_deg: float, displacement: float,
                  forward_max: float = FORWARD_EPIPOLE_MAX,
                  near_min: float = NEAR_FIELD_MIN_RELATIVE_DEPTH) -> str:
    """The domain (one of :data:`DOMAINS`) of a clip from its MVS components (see the module docstring).

    Args:
        epipole_offset: epipole distance from the image centre, image widths (NaN: no fitted F, not forward).
        parallax_deg: median residual parallax after the homography, degrees.
        displacement: median match displacement, fraction of the image width.
        forward_max, near_min: the rule's thresholds.
    """
    if math.isfinite(epipole_offset) and epipole_offset <= forward_max:
        return "forward"
    ratio = relative_depth(parallax_deg, displacement)
    return "near_field" if math.isfinite(ratio) and ratio >= near_min else "far_field"


def _float(value: str) -> float:
    return float(value) if value not in ("", None) else math.nan


def write_domains(scores_csv: str | Path, output: str | Path, min_score: float) -> dict[str, list[str]]:
    """Assign every clip of ``scores_csv`` with a segment scoring at least ``min_score`` a domain; write ``output``
    (``domains.csv``, see the module docstring). Returns domain -> clip names (every domain of :data:`DOMAINS`).

    Raises:
        FileNotFoundError: no ``scores_csv``. ValueError: it lacks the columns the rule reads (scores written
            before ``epipole_offset`` existed: rerun ``python -m training mvs``).
    """
    with Path(scores_csv).open(newline="") as f:
        reader = csv.DictReader(f)
        needed = {"name", "segment", "mvs_score", "epipole_offset", "parallax_deg", "displacement"}
        missing = needed - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{scores_csv}: missing columns {sorted(missing)} (rerun `python -m training mvs`)")
        every = list(reader)
    # Kept exactly as the DataModule keeps them; a kept clip's domain comes from its clip row (all its pairs).
    kept = set(kept_segments(read_segment_scores(scores_csv), min_score))
    rows = [r for r in every if r["segment"] == "all" and r["name"] in kept]
    out_rows = []
    for r in rows:
        epipole, parallax, displacement = (_float(r[k]) for k in ("epipole_offset", "parallax_deg", "displacement"))
        out_rows.append({"name": r["name"], "domain": assign_domain(epipole, parallax, displacement),
                         "mvs_score": r["mvs_score"], "epipole_offset": r["epipole_offset"],
                         "relative_depth": f"{relative_depth(parallax, displacement):.4g}"})
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(out_rows)
    return domain_clips(output)


def read_domains(path: str | Path) -> dict[str, str]:
    """Clip name -> domain from a ``domains.csv``.

    Raises:
        FileNotFoundError: no such file. ValueError: not a domains file.
    """
    with Path(path).open(newline="") as f:
        reader = csv.DictReader(f)
        if not {"name", "domain"} <= set(reader.fieldnames or []):
            raise ValueError(f"{path}: not a domains.csv (needs name and domain columns)")
        return {r["name"]: r["domain"] for r in reader}


def domain_clips(path: str | Path) -> dict[str, list[str]]:
    """Domain -> sorted clip names of a ``domains.csv`` (every domain of :data:`DOMAINS`, possibly empty)."""
    clips: dict[str, list[str]] = {d: [] for d in DOMAINS}
    for name, domain in read_domains(path).items():
        clips.setdefault(domain, []).append(name)
    return {d: sorted(names) for d, names in clips.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m training domains --scores scores.csv --output domains.csv [--min-score S]``."""
    parser = argparse.ArgumentParser(prog="python -m training domains", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", type=Path, required=True, help="scores.csv of `python -m training mvs`")
    parser.add_argument("--output", type=Path, required=True, help="domains.csv to write")
    parser.add_argument("--min-score", type=float, default=DEFAULT_MVS_MIN_SCORE)
    args = parser.parse_args(argv)
    groups = write_domains(args.scores, args.output, args.min_score)
    for domain, names in groups.items():
        print(f"{domain}: {len(names)} clips {names}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
