"""Clips and the samples made from them: the clip index over every source kind (:mod:`.clips`: video, frame folders,
rosbag2 via ``ss3d_core.io.bag_images``, TUM layout), what a clip's frames depend on (:mod:`.fingerprint`), shot cuts
(:mod:`.shots`) and the per-clip manifest entry (:mod:`.manifest`), a clip decoded at the training size with its flow
(:mod:`.clip_frames`), the triplet sample and batch contracts (:mod:`.batch`) and their augmentation
(:mod:`.augmentation`), and the evaluation hold-out: which clips share frames with an evaluation sequence and
never train (:mod:`.holdout`). To add a data source, start in :mod:`.clips`. It may import ``ss3d_core``,
``ss3d_eval`` and :mod:`training.labels`; nothing above (``test/test_boundaries.py`` states the layer order)."""
