"""SS3D training (workstation/cluster only; not installed on robots). Entry point: ``python -m training``.

One sub-package per concept, lowest layer first: ``labels`` (flow, verified flow, triangulated depth), ``data`` (clips,
frames, shots, manifest, samples), ``sfm`` (the COLMAP teacher), ``corpus`` (MVS proxy, curriculum, domains, cache),
``selfcheck`` (checks without ground truth), ``fit`` (DataModule, LightningModule, export, LightningCLI),
``pipeline`` (``make train``, targets, adoption) and ``finetune`` (one robot log). A module imports its own layer and
the ones below (``test/test_boundaries.py``; docs/training.md, "Where things live in training/")."""
