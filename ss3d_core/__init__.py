"""SS3D core: network, geometry, losses, checkpoints, streaming estimator and inference backends.

This package never imports rclpy (a test enforces it) so it can be used on machines without ROS.
"""

__version__ = "0.1.0"
