"""``ss3d`` lifecycle node: camera images in; depth, odometry, camera_info (+ TF, points, diagnostics) out.

Topics (relative names, remap them):
  * subscribes ``image`` (sensor_msgs/Image, SensorData QoS per REP 2003, keep last 1) and, with
    ``use_camera_info``, ``camera_info`` (SensorData QoS);
  * publishes ``depth`` (sensor_msgs/Image, REP 118 ``32FC1`` or ``16UC1``), ``camera_info`` for the depth image,
    ``odom`` (nav_msgs/Odometry, REP 105), ``points`` (sensor_msgs/PointCloud2, optional) with reliable QoS, all
    stamped with the input image's stamp; ``/diagnostics``; TF ``odom -> camera`` when tf2_ros is importable.

Lifecycle: ``configure`` loads the model (and fails there with a clear message), ``activate`` subscribes and starts
the inference worker, ``deactivate`` unsubscribes, ``cleanup`` releases the model. With ``autostart`` (default) the
node configures and activates itself at start-up.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.lifecycle import LifecycleState, Node, TransitionCallbackReturn
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from ss3d_core.backends import BackendUnavailable
from ss3d_core.backends.artifact_cache import default_cache_dir
from ss3d_core.calibration.camera_info_file import (
    CameraInfoFile,
    CameraInfoFileError,
    read_camera_info,
    resolve_camera_info_url,
)
from ss3d_core.calibration.online import OnlineCalibration
from ss3d_core.checkpoint import CheckpointError, bundled_checkpoint
from ss3d_core.estimator import (
    MIN_TWIST_DT_S,
    Estimator,
    EstimatorConfig,
    FrameEstimate,
    ResetReason,
    build_estimator,
)
from ss3d_core.pointcloud import depth_to_points
from ss3d_core.preprocess import image_size_problem
from ss3d_ros import conversions, parameters
from ss3d_ros.diagnostics import diagnostic_array, diagnostic_status
from ss3d_ros.frame_trace import FrameTrace
from ss3d_ros.latest_frame_worker import LatestFrameWorker
from ss3d_ros.python_log_bridge import core_logs_to
from ss3d_ros.stream_stats import StreamStats
from ss3d_ros.tf_output import TfOutput

# REP 2003: sensor data is subscribed best effort; keep only the newest image (stale frames are worthless).
SENSOR_QOS = QoSProfile(
    history=QoSHistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=QoSReliabilityPolicy.BEST_EFFORT,
    durability=QoSDurabilityPolicy.VOLATILE,
)
# REP 2003: derived data is published reliable.
OUTPUT_QOS = QoSProfile(
    history=QoSHistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=QoSReliabilityPolicy.RELIABLE,
    durability=QoSDurabilityPolicy.VOLATILE,
)
DEFAULT_CAMERA_FRAME = "camera_optical_frame"
# Period of the online calibration's state machine (self_calibrate), seconds: it only watches a child process.
CALIBRATION_POLL_S = 1.0


class SS3DNode(Node):
    """Thin ROS layer around :class:`ss3d_core.estimator.Estimator` (conversions, QoS, parameters, diagnostics)."""

    def __init__(self, node_name: str = "ss3d", **kwargs: Any):
        super().__init__(node_name, **kwargs)
        try:
            parameters.declare_all(self)
        except parameters.ParameterError:
            self.destroy_node()
            raise
        self.stats = StreamStats()
        self.estimator: Estimator | None = None
        # Parameter values as of the last accepted set: read by the worker per frame, rebuilt per set (not per frame).
        self._values = parameters.current_values(self)
        self._config_values: dict[str, Any] | None = None  # the snapshot the estimator's config was last built from
        self.add_post_set_parameters_callback(self._on_parameters_set)
        self.backend_name = ""
        self._state = "unconfigured"
        self._camera_info: CameraInfo | None = None
        # K from camera_info_url or adopted by self_calibrate; replaces the learned K unless camera_info is used.
        self._calibration: CameraInfoFile | None = None
        self._online: OnlineCalibration | None = None
        self._calibration_timer: Any = None
        self._warned_at: dict[str, float] = {}
        self._reported_drops = 0
        self._image_sub: Any = None
        self._worker = LatestFrameWorker(self._process, self._on_superseded, self._on_error)
        self._pubs: dict[str, Any] = {}
        self._subs: list[Any] = []
        self._tf: TfOutput | None = None
        self._trace = FrameTrace() if self._values["trace_file"] else None
        if self._trace is not None:
            self._trace.start_gc_timing()
        period = self.get_parameter("diagnostics_period_s").value
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(period, self._publish_diagnostics)

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        values = parameters.current_values(self)
        checkpoint = values["checkpoint"] or str(bundled_checkpoint())
        try:
            with core_logs_to(self.get_logger()):  # backend fallbacks and engine builds, with their reasons
                self.estimator = build_estimator(
                    checkpoint,
                    backend=values["backend"],
                    config=self._estimator_config(values),
                    num_threads=values["num_threads"] or None,
                    precision=values["precision"],
                    cache_dir=values["cache_dir"] or None,
                )
        except BackendUnavailable as err:
            self.get_logger().error(f"configure failed: backend '{values['backend']}' cannot run here: {err}")
            return TransitionCallbackReturn.FAILURE
        except (CheckpointError, OSError) as err:
            self.get_logger().error(f"configure failed: cannot load checkpoint '{checkpoint}': {err}")
            return TransitionCallbackReturn.FAILURE
        except (RuntimeError, ValueError) as err:
            self.get_logger().error(f"configure failed: {type(err).__name__} while loading '{checkpoint}' on backend "
                                    f"'{values['backend']}': {err}")
            return TransitionCallbackReturn.FAILURE
        if not self._configure_calibration(values):
            self._release()
            return TransitionCallbackReturn.FAILURE
        self.backend_name = self.estimator.backend.name
        self.estimator.backend.warm_up()
        for name, msg_type in (("depth", Image), ("camera_info", CameraInfo), ("odom", Odometry),
                               ("points", PointCloud2)):
            self._pubs[name] = self.create_lifecycle_publisher(msg_type, name, OUTPUT_QOS)
        self._tf = TfOutput(self) if values["publish_tf"] else None
        w, h = self.estimator.backend.input_size
        self.get_logger().info(
            f"configured: checkpoint '{checkpoint}', backend {self.backend_name}, network input {w}x{h}, "
            f"depth unit {'metres' if values['metric_scale'] > 0 else 'relative (set metric_scale for metres)'}"
        )
        self._state = "inactive"
        return super().on_configure(state)

    def _configure_calibration(self, values: dict[str, Any]) -> bool:
        """Read ``camera_info_url`` or start ``self_calibrate`` (:mod:`ss3d_core.calibration`); ``False`` (logged)
        when the calibration file cannot be used."""
        url, log = values["camera_info_url"], self.get_logger()
        if url:
            try:
                path = resolve_camera_info_url(url, values["camera_frame_id"])
                self._calibration = read_camera_info(path)
            except CameraInfoFileError as err:
                log.error(f"configure failed: camera_info_url: {err}")
                return False
            K, cal = self._calibration.K, self._calibration
            log.info(f"camera_info_url: K of {cal.camera_name!r} at {cal.width}x{cal.height} (fx {K[0, 0]:.1f} fy "
                     f"{K[1, 1]:.1f} cx {K[0, 2]:.1f} cy {K[1, 2]:.1f} px) from {path} replaces the learned K"
                     + ("; self_calibrate ignored" if values["self_calibrate"] else ""))
        elif values["self_calibrate"]:
            self._online = OnlineCalibration(values["cache_dir"] or default_cache_dir())
            self._calibration_timer = self.create_timer(CALIBRATION_POLL_S, self._poll_calibration)
        return True

    def _poll_calibration(self) -> None:
        """Advance online calibration, log its steps and take an adopted K."""
        online = self._online
        if online is None:
            return
        for level, message in online.poll():
            (self.get_logger().warning if level == "warning" else self.get_logger().info)(message)
        if online.adopted is not None:
            self._calibration = online.adopted

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._image_sub = self.create_subscription(Image, "image", self._on_image, SENSOR_QOS)
        self._subs.append(self._image_sub)
        if self.get_parameter("use_camera_info").value:
            self._subs.append(self.create_subscription(CameraInfo, "camera_info_in", self._on_camera_info,
                                                       SENSOR_QOS))
        self._worker.start()
        self._state = "active"
        self.get_logger().info("active: waiting for images on " + self.resolve_topic_name("image"))
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_stream()
        self._state = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_stream()
        self._release()
        self._state = "unconfigured"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_stream()
        self._release()
        self._state = "finalized"
        snapshot = self.stats.snapshot()
        self.get_logger().info(f"shut down: inference stopped after {snapshot['frames_out']} published of "
                               f"{snapshot['frames_in']} received frames")
        self._write_trace()
        return super().on_shutdown(state)

    def _write_trace(self) -> None:
        """Write the frame trace to ``trace_file`` (when set); a failure is logged, shutdown goes on."""
        if self._trace is None:
            return
        self._trace.stop_gc_timing()
        try:
            path = self._trace.write(self._values["trace_file"])
        except OSError as err:
            self.get_logger().error(f"cannot write trace_file {self._values['trace_file']!r}: {err}")
            return
        self.get_logger().info(f"frame trace written to {path}")

    def _stop_stream(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs.clear()
        self._image_sub = None
        self._worker.stop()

    def _release(self) -> None:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs.clear()
        if self.estimator is not None:
            self.estimator.close()
        self.estimator = None
        self._config_values = None
        self._tf = None
        if self._online is not None:
            self._online.close()
        if self._calibration_timer is not None:
            self.destroy_timer(self._calibration_timer)
        self._online, self._calibration_timer, self._calibration = None, None, None

    def _on_parameters_set(self, changed: list[Any]) -> None:
        """After a run-time set was accepted: take a new snapshot of every parameter (one dict, swapped atomically)."""
        self._values = parameters.current_values(self)

    def _apply_run_time_config(self, estimator: Estimator, values: dict[str, Any]) -> None:
        """Give ``estimator`` the run-time settable fields of ``values``, once per parameter snapshot (the worker
        calls it at the start of a frame, so that one frame never mixes two settings)."""
        if values is self._config_values:
            return
        estimator.config = replace(
            estimator.config,
            gap_threshold_s=values["gap_threshold_s"],
            output_size=values["output_size"],
            metric_scale=values["metric_scale"] or None,
            square_pixels=values["square_pixels"],
        )
        self._config_values = values

    @staticmethod
    def _estimator_config(values: dict[str, Any]) -> EstimatorConfig:
        return EstimatorConfig(
            gap_threshold_s=values["gap_threshold_s"],
            intrinsics_window=values["intrinsics_window"],
            intrinsics_freeze_after=values["intrinsics_freeze_after"] or None,
            output_size=values["output_size"],
            metric_scale=values["metric_scale"] or None,
            square_pixels=values["square_pixels"],
            pose_source=values["pose_source"],
        )

    # --- input --------------------------------------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        self.stats.received()
        self._worker.submit((msg, time.monotonic()))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_superseded(self, item: tuple[Image, float]) -> None:
        self._drop("stale", "inference slower than the camera: older frames are dropped")
        if self._trace is not None:
            msg, received_at = item
            self._trace.frame(conversions.stamp_to_ns(msg.header.stamp), "stale", {"received": received_at}, {})

    def _on_error(self, item: Any, err: BaseException) -> None:
        self._drop("inference_error", f"processing failed: {type(err).__name__}: {err}")

    def _drop(self, reason: str, message: str) -> None:
        count = self.stats.dropped(reason)
        self._warn_throttled(reason, f"dropped frame ({reason}, {count} so far): {message}")

    def _warn_throttled(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._warned_at.get(key, -np.inf) >= self.get_parameter("warn_throttle_s").value:
            self._warned_at[key] = now
            self.get_logger().warning(message)

    # --- processing (worker thread) -------------------------------------------------------------------------------
    def _process(self, item: tuple[Image, float]) -> None:
        """Process one ``(image, monotonic arrival time)`` in the worker thread; trace it when ``trace_file`` is set
        (a frame whose processing raised is traced as ``inference_error``), with the worker thread's CPU time: less
        than the wall time means the thread waited for a core, equal means the core itself was slow."""
        msg, received_at = item
        times = {"received": received_at, "picked_up": time.monotonic()}
        cpu_start = time.thread_time()
        durations: dict[str, float] = {}
        outcome = "inference_error"
        try:
            outcome = self._process_frame(msg, times, durations)
        finally:
            if self._trace is not None:
                durations["worker_cpu_ms"] = (time.thread_time() - cpu_start) * 1e3
                self._trace.frame(conversions.stamp_to_ns(msg.header.stamp), outcome, times, durations)

    def _process_frame(self, msg: Image, times: dict[str, float], durations: dict[str, float]) -> str:
        """Estimate and publish one frame, filling ``times`` (monotonic seconds, :data:`frame_trace.HANDOFFS`) and
        ``durations`` (ms); returns ``published`` or the reason the frame was dropped."""
        estimator = self.estimator
        if estimator is None:
            self._drop("inactive", "no model loaded")
            return "inactive"
        try:
            rgb = conversions.image_msg_to_rgb8(msg)
        except conversions.ImageConversionError as err:
            self._drop(err.reason, str(err))
            return err.reason
        problem = image_size_problem(rgb.shape[1], rgb.shape[0], estimator.backend.input_size)
        if problem is not None:
            self._drop(*problem)
            return problem[0]
        times["converted"] = time.monotonic()
        values = self._values
        camera_frame = values["camera_frame_id"] or msg.header.frame_id or DEFAULT_CAMERA_FRAME
        if camera_frame == values["odom_frame_id"]:
            self._drop("frame_id_conflict", f"the image's frame_id {camera_frame!r} equals odom_frame_id; set "
                       "camera_frame_id to the camera's optical frame")
            return "frame_id_conflict"
        self._apply_run_time_config(estimator, values)
        distortion = self._apply_camera_info(estimator, values["use_camera_info"])
        stamp_ns = conversions.stamp_to_ns(msg.header.stamp)
        if self._online is not None:
            self._online.offer(rgb, stamp_ns, camera_frame)
        times["estimating"] = time.monotonic()
        estimate = estimator.estimate(rgb, stamp_ns)
        durations.update(preprocess_ms=estimate.preprocess_ms, inference_ms=estimate.inference_ms,
                         postprocess_ms=estimate.postprocess_ms)
        self._report_stream_events(estimate, stamp_ns)
        estimated = time.monotonic()
        times["depth_publish"] = self._publish(msg, estimate, rgb, values, distortion, camera_frame)
        times["published"] = published = time.monotonic()
        received_at, picked_up = times["received"], times["picked_up"]
        self.stats.published((published - received_at) * 1e3, {
            "waiting": (picked_up - received_at) * 1e3,
            "conversion": (times["converted"] - picked_up) * 1e3,
            "preprocessing": estimate.preprocess_ms,
            "inference": estimate.inference_ms,
            "postprocessing": estimate.postprocess_ms,
            "publishing": (published - estimated) * 1e3,
        })
        return "published"

    def _report_stream_events(self, estimate: FrameEstimate, stamp_ns: int) -> None:
        """Count odometry restarts and omitted twists; warn about them, throttled per kind."""
        if stamp_ns == 0:
            self.stats.event("stamp_zero")
            self._warn_throttled("stamp_zero", "image header.stamp is zero: the camera driver leaves stamps unset, "
                                 "so frames cannot be chained in time and odometry restarts at every frame (depth is "
                                 "still published); stamp the images at capture")
        reason = estimate.reset_reason
        if reason not in (None, ResetReason.FIRST_FRAME):
            self.stats.event(f"odometry_reset_{reason.value}")
            if stamp_ns != 0:
                self._warn_throttled(f"reset_{reason.value}",
                                     f"odometry restarted (segment {estimate.segment}): {reason.value}")
        elif reason is None and estimate.twist is None:
            self._warn_throttled("twist_omitted", f"frames {estimate.dt_s * 1e6:.0f} µs apart (under "
                                 f"{MIN_TWIST_DT_S * 1e3:g} ms): twist omitted (published as zero), pose kept")

    def _apply_camera_info(self, estimator: Estimator, use_camera_info: bool) -> tuple[str, tuple[float, ...]]:
        info = self._camera_info
        if not use_camera_info or info is None:
            calibration = self._calibration
            if calibration is not None:  # camera_info_url or an adopted self-calibration
                estimator.set_known_intrinsics(calibration.K, calibration.width, calibration.height)
                return calibration.distortion_model, tuple(calibration.D) or (0.0,) * 5
            estimator.clear_known_intrinsics()
            if use_camera_info:
                self._warn_throttled("no_camera_info", "use_camera_info is set but no camera_info received yet; "
                                     "publishing learned intrinsics")
            return "plumb_bob", (0.0,) * 5
        try:
            K, width, height = conversions.camera_info_to_K(info)
            estimator.set_known_intrinsics(K, width, height)
        except ValueError as err:
            self._warn_throttled("bad_camera_info", f"ignoring invalid camera_info: {err}")
            estimator.clear_known_intrinsics()
            return "plumb_bob", (0.0,) * 5
        model, coefficients = info.distortion_model or "plumb_bob", tuple(info.d)
        expected = conversions.DISTORTION_COEFFICIENT_COUNT.get(model)
        if not coefficients and expected is not None:
            coefficients = (0.0,) * expected  # an empty D means no distortion (rectified images)
        elif expected is None or len(coefficients) != expected:
            self._warn_throttled("bad_distortion", f"camera_info distortion '{model}' with {len(coefficients)} "
                                 "coefficients is not supported; publishing plumb_bob without distortion")
            return "plumb_bob", (0.0,) * 5
        return model, coefficients

    def _publish(
        self,
        msg: Image,
        estimate: FrameEstimate,
        rgb: np.ndarray,
        values: dict[str, Any],
        distortion: tuple[str, tuple[float, ...]],
        camera_frame: str,
    ) -> float:
        """Publish depth (first), camera_info, odometry, TF and points; returns when the depth message was handed to
        its publisher (monotonic seconds)."""
        header = Header()
        header.stamp = msg.header.stamp
        header.frame_id = camera_frame
        depth = estimate.depth
        h, w = depth.shape
        depth_msg = conversions.depth_to_image_msg(depth, header, values["depth_encoding"])
        depth_publish = time.monotonic()
        self._pubs["depth"].publish(depth_msg)
        self._pubs["camera_info"].publish(conversions.camera_info_msg(estimate.K, w, h, header, *distortion))

        odom_header = Header()
        odom_header.stamp = msg.header.stamp
        odom_header.frame_id = values["odom_frame_id"]
        linear, angular = estimate.twist if estimate.twist is not None else (None, None)
        self._pubs["odom"].publish(conversions.odometry_msg(
            estimate.T_odom_camera, odom_header, header.frame_id, twist_linear=linear, twist_angular=angular))
        if self._tf is not None and values["publish_tf"]:
            self._tf.send(conversions.transform_msg(estimate.T_odom_camera, odom_header, header.frame_id))
        points_pub = self._pubs["points"]
        if values["publish_points"] and points_pub.get_subscription_count() > 0:
            points, colours = depth_to_points(depth, estimate.K, values["points_stride"], rgb)
            points_pub.publish(conversions.pointcloud_msg(points, header, colours))
        return depth_publish

    # --- diagnostics --------------------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        snapshot = self.stats.snapshot()
        if self.estimator is not None:
            for key, count in self.estimator.counters.items():
                snapshot["events"][f"estimator_{key}"] = count
        image_sub = self._image_sub
        snapshot["image_publishers"] = image_sub.get_publisher_count() if image_sub is not None else 0
        if self._online is not None:
            calibration = self._online.state()
            snapshot["calibration"] = {"self_calibration": calibration.state,
                                       "self_calibration_detail": calibration.detail,
                                       "self_calibration_keyframes": calibration.keyframes,
                                       "self_calibration_attempts": calibration.attempts}
        new_drops = snapshot["drops_total"] - self._reported_drops
        self._reported_drops = snapshot["drops_total"]
        status = diagnostic_status(self.get_fully_qualified_name(), snapshot, self.backend_name, self._state,
                                   new_drops)
        self._diag_pub.publish(diagnostic_array(self.get_clock().now().to_msg(), status))

