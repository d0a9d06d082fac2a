"""Ground-truth-free checks of a checkpoint on a clip corpus: its depth against triangulated flow
(:mod:`.depth_agreement`) and its ego-motion against a five-point solution (:mod:`.pose_agreement`), both reading the
corpus the same way through :mod:`.clip_check`; the fine-tuning report scores held-back frames with them. It may
import :mod:`training.data` and :mod:`training.labels` (and ``ss3d_core``, ``ss3d_eval``), nothing above
(``test/test_boundaries.py`` states the layer order)."""
