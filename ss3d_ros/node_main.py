"""``ss3d_node`` entry point: ``ss3d_node --ros-args --params-file config/ss3d.yaml [-r image:=/camera/image]``."""

from __future__ import annotations

import signal
import sys
import threading

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions

USAGE = """usage: ss3d_node [--ros-args --params-file config/ss3d.yaml -r image:=/camera/image_raw ...]

SS3D monocular 3D node: subscribes 'image' (and 'camera_info_in' with use_camera_info), publishes 'depth'
(REP 118), 'camera_info', 'odom', optional 'points', '/diagnostics' and TF odom->camera.
Parameters: see config/ss3d.yaml or `ros2 param describe /ss3d <name>`.
"""
# How often the spin loop looks at the stop request (seconds): the delay between SIGINT and the orderly shutdown.
STOP_POLL_S = 0.1
EXIT_OK = 0
EXIT_FAILURE = 1


def main(args: list[str] | None = None) -> int:
    """Start the lifecycle node (autostart: configure + activate) and spin until SIGINT/SIGTERM.

    Returns 0 after a clean stop, 1 when a parameter is refused at start-up (one FATAL line naming the parameter,
    the value and what is allowed) or configure/activate fails.

    Shutdown is ordered: the signal only requests a stop; the node then goes through its lifecycle shutdown (the
    inference worker finishes its frame and stops, publishers are destroyed) while the ROS context is still valid,
    and only then is the context shut down. rclpy's own signal handlers are not installed, because they shut the
    context down at once, under a worker that may be publishing.
    """
    argv = sys.argv if args is None else args
    user_args = argv[1 : argv.index("--ros-args")] if "--ros-args" in argv else argv[1:]
    if any(a in ("-h", "--help") for a in user_args):
        print(USAGE)
        return EXIT_OK
    from ss3d_ros.node import SS3DNode
    from ss3d_ros.parameters import ParameterError

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = SS3DNode()
    except ParameterError as err:
        rclpy.logging.get_logger("ss3d").fatal(f"invalid parameter: {err}")
        rclpy.try_shutdown()
        return EXIT_FAILURE
    # One thread runs every callback: they only deposit a frame for the inference worker (LatestFrameWorker) or
    # answer services and timers. A MultiThreadedExecutor hands each message to a pool thread, a second hop and a
    # second thread waiting for the GIL: on 2 cores it took twice the executor CPU, doubled the p95 from publish to
    # callback and let frames be replaced in DDS before any callback saw them (docs/performance.md).
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    code = EXIT_OK
    try:
        if node.get_parameter("autostart").value:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().fatal("configure failed; see the error above")
                code = EXIT_FAILURE
            elif node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().fatal("activate failed")
                code = EXIT_FAILURE
        while code == EXIT_OK and not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=STOP_POLL_S)
    except ExternalShutdownException:
        pass
    finally:
        if rclpy.ok():
            node.trigger_shutdown()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
