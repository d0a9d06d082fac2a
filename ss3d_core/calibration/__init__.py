"""Camera calibration from the camera's own motion (``ss3d_calibrate``, the node's ``camera_info_url`` and
``self_calibrate``).

:mod:`~ss3d_core.calibration.stretch` picks the moving stretch of a recording, :mod:`~ss3d_core.calibration.calibrate`
reconstructs it with the SfM teacher (:mod:`ss3d_core.sfm`) and :mod:`~ss3d_core.calibration.acceptance` decides
whether its K is believed; :mod:`~ss3d_core.calibration.camera_info_file` reads and writes ROS calibration files,
:mod:`~ss3d_core.calibration.cli` is the command and :mod:`~ss3d_core.calibration.online` the node's background
calibration. Nothing here imports ROS.
"""
