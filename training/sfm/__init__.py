"""The classical SfM teacher (issue 23): every clip reconstructed once with COLMAP (:mod:`ss3d_core.sfm`), its
intrinsics, poses and sparse depth stored per clip (:mod:`.store`, read by training with :func:`.store.load_sfm`) and
mapped onto one training triplet through its resize, crop and flip (:mod:`.triplet_labels`);
``python -m training sfm`` (:mod:`.cli`) builds the store, one clip at a time with :mod:`.clip_sfm`. It may import
:mod:`training.data` and :mod:`training.labels` (and ``ss3d_core``), nothing above: the corpus reads its store, not
the other way round (``test/test_boundaries.py`` states the layer order)."""
