"""Fine-tuning on one robot log with a before/after report, ``python -m training finetune`` (:mod:`.cli`): the log and
its calibration (:mod:`.bag_log`), the log as one clip with its hold-out (:mod:`.log_clip`), the SfM teacher on its
training part (:mod:`.log_sfm`), the recipe (:mod:`.recipe`), the fit (:mod:`.train`) and the report
(:mod:`.report`). The top layer: it may import every other ``training`` package, and none imports it
(``test/test_boundaries.py`` states the layer order)."""
