"""Classical structure-from-motion, the one home of the COLMAP reconstruction (Schönberger & Frahm 2016, pycolmap).

:mod:`~ss3d_core.sfm.settings` holds every COLMAP option and why, :mod:`~ss3d_core.sfm.runner` runs a reconstruction
in a child process with a timeout (:mod:`~ss3d_core.sfm.child`), and :mod:`~ss3d_core.sfm.reconstruction` is what it
returns: shared intrinsics, per-frame poses ``T_camera_world``, per-frame sparse depth and statistics. Its users:
the SfM teacher of training (``python -m training sfm``, :mod:`training.sfm`) and the evaluator's
``colmap_selfcalib`` baseline (:mod:`ss3d_eval.baselines.colmap_selfcalib`). The package imports nothing heavy
(``ss3d_core.sfm.runner`` imports torch through :mod:`ss3d_core.camera`; the child does not).
"""
