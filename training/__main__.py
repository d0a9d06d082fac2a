"""``python -m training <command>``: ``fit`` / ``validate`` (LightningCLI over the SS3D trainer,
:mod:`training.fit.cli`; see ``--help``), ``mvs`` (score a corpus with the multi-view-signal proxy,
:mod:`training.corpus.mvs_cli`), ``domains`` (group the filtered corpus into the experts' domains,
:mod:`training.corpus.domains`), ``sfm`` (the SfM teacher's COLMAP reconstruction of every clip,
:mod:`training.sfm.cli`), ``label-check`` (the SfM teacher's pose labels and fx scored against ground truth,
:mod:`training.sfm.label_check`), ``pipeline`` (the whole schedule, resumable, ``make train``:
:mod:`training.pipeline.schedule`), ``targets`` (the quality targets table of ``ss3d_eval`` reports,
:mod:`training.pipeline.targets`) or ``finetune`` (fine-tune on one robot log with a before/after report,
:mod:`training.finetune.cli`)."""

from __future__ import annotations

import sys

COMMANDS = {"mvs": "training.corpus.mvs_cli", "finetune": "training.finetune.cli", "domains": "training.corpus.domains",
            "pipeline": "training.pipeline.schedule", "targets": "training.pipeline.targets", "sfm": "training.sfm.cli",
            "label-check": "training.sfm.label_check"}


def main() -> None:
    """Dispatch ``mvs``, ``domains``, ``sfm``, ``label-check``, ``pipeline``, ``targets`` and ``finetune`` to their
    commands; everything else goes to LightningCLI."""
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        import importlib

        sys.exit(importlib.import_module(COMMANDS[sys.argv[1]]).main(sys.argv[2:]))
    from training.fit.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
