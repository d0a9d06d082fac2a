"""The classical SfM teacher (issue 23): every clip reconstructed once with COLMAP (:mod:`ss3d_core.sfm`), its
intrinsics, poses and sparse depth stored per clip (:mod:`.store`, read by training with :func:`.store.load_sfm`) and
mapped onto one training triplet through its resize, crop and flip (:mod:`.triplet_labels`);
``python -m training sfm`` (:mod:`.cli`) builds the store, one clip at a time with :mod:`.clip_sfm`;
``python -m training label-check`` (:mod:`.label_check`) builds the same entries for dev sequences with ground truth
(and corpus clips that overlap them) and scores the labels the loss would see (:mod:`.label_scoring`) against the
ground truth of each frame (:mod:`.clip_ground_truth`). It may import :mod:`training.data` and
:mod:`training.labels` (and ``ss3d_core``, and ``ss3d_eval``'s metrics), nothing above: the corpus reads its store,
not the other way round (``test/test_boundaries.py`` states the layer order)."""
