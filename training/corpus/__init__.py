"""The corpus stage of SS3D (GUIDE §1-2): which clips train and in what order. The multi-view-signal (MVS) proxy
(:mod:`.mvs`) with the SfM teacher's rigidity evidence (:mod:`.rigidity`), ``python -m training mvs`` writing the
scores and the manifest (:mod:`.mvs_cli`, holding out the clips :mod:`training.data.holdout` finds), MVS filtering
and curriculum sampling (:mod:`.curriculum`), the experts' domains (:mod:`.domains`) and the on-disk training cache
(:mod:`.cache`).
It may import :mod:`training.sfm`, :mod:`training.data` and :mod:`training.labels`, never the DataModule or anything
above (``test/test_boundaries.py`` states the layer order)."""
