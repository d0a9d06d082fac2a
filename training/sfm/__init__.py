"""The classical SfM teacher (issue 23): every clip reconstructed once with COLMAP (:mod:`ss3d_core.sfm`), its
intrinsics, poses and sparse depth stored per clip (:mod:`.store`, read by training with :func:`.store.load_sfm`);
``python -m training sfm`` (:mod:`.cli`) builds the store, one clip at a time with :mod:`.clip_sfm`."""
