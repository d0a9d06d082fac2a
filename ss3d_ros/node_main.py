"""``ss3d_node`` entry point: ``ss3d_node --ros-args --params-file config/ss3d.yaml [-r image:=/camera/image]``."""

from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn

USAGE = """usage: ss3d_node [--ros-args --params-file config/ss3d.yaml -r image:=/camera/image_raw ...]

SS3D monocular 3D node: subscribes 'image' (and 'camera_info_in' with use_camera_info), publishes 'depth'
(REP 118), 'camera_info', 'odom', optional 'points', '/diagnostics' and TF odom->camera.
Parameters: see config/ss3d.yaml or `ros2 param describe /ss3d <name>`.
"""


def main(args: list[str] | None = None) -> int:
    """Start the lifecycle node (autostart: configure + activate) and spin until shutdown."""
    argv = sys.argv if args is None else args
    user_args = argv[1 : argv.index("--ros-args")] if "--ros-args" in argv else argv[1:]
    if any(a in ("-h", "--help") for a in user_args):
        print(USAGE)
        return 0
    from ss3d_ros.node import SS3DNode

    rclpy.init(args=argv)
    node = SS3DNode()
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    code = 0
    try:
        if node.get_parameter("autostart").value:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().fatal("configure failed; see the error above")
                code = 1
            elif node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().fatal("activate failed")
                code = 1
        if code == 0:
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if rclpy.ok():  # after SIGINT/SIGTERM rclpy has already finalized the lifecycle node itself
            node.trigger_shutdown()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
