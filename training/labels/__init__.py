"""Supervision computed from the frames themselves, with no model and no clip bookkeeping: observed optical flow
with its forward-backward mask (:mod:`.optical_flow`), the wide-baseline check of that flow against sparse matches
(:mod:`.flow_verification`), and depth labels triangulated from the flow under a pose solved from it
(:mod:`.triangulated_labels`). The lowest layer of ``training/``: it imports ``ss3d_core`` and ``ss3d_eval``, never
another ``training`` package (the layer order is stated in ``test/test_boundaries.py``)."""
