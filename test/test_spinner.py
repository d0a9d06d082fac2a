"""BackgroundSpinner: callbacks run in its thread, and stop() joins that thread before the executor shuts down."""

from __future__ import annotations

import threading

import rclpy
from rclpy.executors import SingleThreadedExecutor

from ss3d_ros.tools.spinner import BackgroundSpinner

TIMEOUT_S = 10.0


def test_spins_callbacks_and_stops_with_no_thread_left():
    rclpy.init()
    try:
        node = rclpy.create_node("spinner_test")
        fired = threading.Event()
        node.create_timer(0.01, fired.set)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spinner = BackgroundSpinner(executor, name="spinner-test")
        with spinner:
            assert fired.wait(TIMEOUT_S)
        assert not any(t.name == "spinner-test" for t in threading.enumerate())
        spinner.stop()  # twice: harmless
        BackgroundSpinner(SingleThreadedExecutor()).stop()  # never started: harmless
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
