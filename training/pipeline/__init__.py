"""``make train`` from end to end: the resumable schedule of steps (:mod:`.schedule`: SfM teacher and MVS, filter and
domains, stage 1, experts or the joint model, distilled student, export, evaluation), the quality targets read from
``ss3d_eval`` reports (:mod:`.targets`), and the adoption rule that decides whether a new checkpoint replaces the
shipped one (:mod:`.adoption`). It may import every layer below it (:mod:`training.fit`, :mod:`training.selfcheck`,
:mod:`training.corpus`, :mod:`training.sfm`, :mod:`training.data`, :mod:`training.labels`); only
:mod:`training.finetune` sits above (``test/test_boundaries.py`` states the layer order)."""
