"""Training frames straight from a robot's rosbag2: :func:`ss3d_core.io.bag_images.iter_bag_frames` (moved there so
that ``ss3d_calibrate`` reads bags the same way), re-exported for training's clip readers."""

from ss3d_core.io.bag_images import KEEP_AFTER_PERIOD_FRACTION, iter_bag_frames

__all__ = ["KEEP_AFTER_PERIOD_FRACTION", "iter_bag_frames"]
