"""The node's parameters: one table with descriptors (description, unit, range, choices) and validation.

Defaults here equal ``config/ss3d.yaml`` (a test checks it). ``read_only`` parameters are fixed at start-up
(they select and load the model); the others may be changed at run time with ``ros2 param set``.

Start-up values (``-p name:=value``, ``--params-file``) and run-time sets pass the same checks, in this order:
the type (each parameter keeps the type of its default; the descriptors are declared with ``dynamic_typing`` so that
this module, not rclpy, answers a wrong type with the expected type and an example), the range (rclpy, from the
descriptor's ``integer_range``/``floating_point_range``, so that tools see it too), the choices, and the rules that
tie parameters together (:func:`consistency_error`). A bad start-up value raises :class:`ParameterError`; a bad
run-time set is refused with the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

from ss3d_core.backends import BACKEND_NAMES as BACKEND_CHOICES
from ss3d_core.backends.base import PRECISIONS
from ss3d_core.estimator.estimator import OUTPUT_SIZES
from ss3d_core.estimator.geometric_pose import POSE_SOURCES
from ss3d_core.io.image_message import DEPTH_ENCODINGS  # REP 118

# ROS 2 parameter type names of the Python types used here (rcl_interfaces/ParameterType).
_TYPE_NAMES = {bool: "bool", int: "integer", float: "double", str: "string"}
# Precedes the callback's or descriptor check's reason in rclpy's InvalidParameterValueException message.
_RCLPY_REASON_MARKER = "Reason: "


class ParameterError(ValueError):
    """A parameter value given at start-up that the node refuses; the message names the parameter, the value and
    what is allowed (one line)."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, default (its type is the parameter type), documentation and constraints."""

    name: str
    default: Any
    description: str
    unit: str = ""
    choices: tuple[str, ...] = ()
    value_range: tuple[float, float] | None = None
    read_only: bool = False

    def descriptor(self) -> ParameterDescriptor:
        """rcl_interfaces descriptor shown by ``ros2 param describe``.

        ``dynamic_typing`` is set so that rclpy leaves the type check to :meth:`validate` (whose message says what
        is expected); the type stays fixed all the same.
        """
        text = self.description + (f" Unit: {self.unit}." if self.unit else "")
        desc = ParameterDescriptor(description=text, additional_constraints=self.allowed(),
                                   read_only=self.read_only, dynamic_typing=True)
        if self.value_range is not None:
            lo, hi = self.value_range
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
            elif isinstance(self.default, float):
                desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
        return desc

    def allowed(self) -> str:
        """What values are allowed, in words (``one of a, b``, ``a double in [0.0, 1.0]``, ``a string``)."""
        type_name = _TYPE_NAMES[type(self.default)]
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.value_range is not None and not isinstance(self.default, bool):
            lo, hi = self.value_range
            return f"{'an' if type_name == 'integer' else 'a'} {type_name} in [{lo}, {hi}]"
        return f"a {type_name}"

    def validate(self, value: Any) -> str | None:
        """Return an error message naming the parameter, the value and what is allowed, or ``None`` when ``value``
        is acceptable on its own (see :func:`consistency_error` for the rules between parameters)."""
        expected = type(self.default)
        if type(value) is not expected:
            got = _TYPE_NAMES.get(type(value), "not set" if value is None else type(value).__name__)
            hint = f" (write {float(value)!r})" if expected is float and type(value) is int else ""
            return f"{self.name} must be {self.allowed()}, got {got} {value!r}{hint}"
        if self.choices and value not in self.choices:
            return f"{self.name} must be {self.allowed()}, got {value!r}"
        if self.value_range is not None and not isinstance(value, bool):
            lo, hi = self.value_range
            if not lo <= value <= hi:
                return f"{self.name} must be {self.allowed()}, got {value!r}"
        return None


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("checkpoint", "", "SS3D checkpoint (NAME, NAME.safetensors or NAME.json); empty = the bundled one.",
              read_only=True),
    ParamSpec("backend", "auto", "Inference runtime; auto picks the fastest available (tensorrt falls back to "
              "onnxruntime, then torch, when it cannot run here).", choices=BACKEND_CHOICES, read_only=True),
    ParamSpec("precision", "fp16", "TensorRT precision (the other runtimes compute in fp32).", choices=PRECISIONS,
              read_only=True),
    ParamSpec("cache_dir", "", "Folder of compiled ONNX graphs and TensorRT engines (ss3d_export writes there); "
              "empty = $SS3D_CACHE_DIR or ~/.cache/ss3d_ros.", read_only=True),
    ParamSpec("num_threads", 0, "CPU inference threads; 0 = one less than the CPU cores, at least 1 (the rest of the "
              "node needs a core while the network runs).", value_range=(0, 256),
              read_only=True),
    ParamSpec("intrinsics_window", 30, "Frames in the running median of the learned intrinsics.", unit="frames",
              value_range=(1, 10000), read_only=True),
    ParamSpec("intrinsics_freeze_after", 0, "Freeze learned intrinsics after this many frame pairs; 0 = never.",
              unit="frames", value_range=(0, 1000000), read_only=True),
    ParamSpec("pose_source", "geometric", "Odometry between frames: geometric (tracked corners, essential matrix with "
              "the published K, scale from the network's depth; rest, pure rotation and failures handled, counted in "
              "/diagnostics) or network (the network's own ego-motion).", choices=POSE_SOURCES, read_only=True),
    ParamSpec("square_pixels", True, "Publish learned intrinsics with fx = fy in input-image pixels (the network "
              "cannot see the source aspect ratio)."),
    ParamSpec("use_camera_info", False, "Use K from the camera_info topic instead of the learned intrinsics."),
    ParamSpec("camera_info_url", "", "Calibration file (camera_calibration_parsers YAML, as ss3d_calibrate writes) "
              "whose K replaces the learned intrinsics: file:///abs/path.yaml or package://pkg/path.yaml, as "
              "camera_info_manager reads; empty = none. The camera_info topic (use_camera_info) wins over it.",
              read_only=True),
    ParamSpec("self_calibrate", False, "Self-calibrate K online: key frames while the camera moves, COLMAP in a "
              "niced child process, the result adopted when it passes ss3d_calibrate's checks and cached under "
              "cache_dir (next start uses it at once). Needs pycolmap; ignored with camera_info_url.", read_only=True),
    ParamSpec("camera_frame_id", "", "Frame of depth/camera_info and odometry child; empty = the image's frame_id. "
              "Must differ from odom_frame_id."),
    ParamSpec("odom_frame_id", "odom", "Odometry frame (REP 105), x forward / z up, level with the first camera pose; "
              "not empty."),
    ParamSpec("publish_tf", True, "Broadcast odom -> camera TF (needs tf2_ros; disable if the camera frame already "
              "has a parent in your TF tree)."),
    ParamSpec("depth_encoding", "32FC1", "REP 118 depth encoding: 32FC1 (metres or relative units, NaN invalid) or "
              "16UC1 (millimetres, 0 invalid; needs metric_scale > 0).", choices=DEPTH_ENCODINGS),
    ParamSpec("output_size", "network", "Depth resolution: the network's, or resized to the input image.",
              choices=OUTPUT_SIZES),
    ParamSpec("metric_scale", 0.0, "Metres per network depth unit; 0 = publish relative (up-to-scale) depth and "
              "odometry.", unit="m/unit", value_range=(0.0, 1.0e6)),
    ParamSpec("gap_threshold_s", 0.5, "A stamp gap longer than this restarts odometry.", unit="s",
              value_range=(1.0e-3, 3600.0)),
    ParamSpec("publish_points", False, "Publish a sensor_msgs/PointCloud2 on 'points' (computed only when "
              "subscribed)."),
    ParamSpec("points_stride", 2, "Keep one depth pixel in points_stride along each axis for 'points'.",
              unit="pixels", value_range=(1, 64)),
    ParamSpec("diagnostics_period_s", 1.0, "Period of /diagnostics messages.", unit="s", value_range=(0.1, 60.0),
              read_only=True),
    ParamSpec("warn_throttle_s", 5.0, "Minimum time between repeated warnings of one kind.", unit="s",
              value_range=(0.0, 3600.0)),
    ParamSpec("autostart", True, "Configure and activate the lifecycle node at start-up.", read_only=True),
    ParamSpec("trace_file", "", "Write every frame's hand-off times (callback, worker, inference, publish) and the "
              "garbage-collector pauses to this JSON file at shutdown; empty = no trace.", read_only=True),
)
SPECS = {spec.name: spec for spec in PARAMETERS}
# Parameters whose value must not be an empty string (the odometry frame names the parent of every pose).
NON_EMPTY = ("odom_frame_id",)


def consistency_error(values: Mapping[str, Any]) -> str | None:
    """The first rule between parameters that ``values`` (``{name: value}`` of every parameter) breaks, or ``None``.

    Rules: ``odom_frame_id`` is not empty; ``camera_frame_id``, when set, differs from ``odom_frame_id`` (odometry
    of a frame relative to itself is no pose); ``16UC1`` depth (millimetres, REP 118) needs ``metric_scale > 0``
    (without it the depth is in the network's relative unit, and "millimetres" would be that unit times 1000).
    """
    for name in NON_EMPTY:
        if not values[name]:
            return f"{name} must not be empty (REP 105; the default is {SPECS[name].default!r})"
    if values["camera_frame_id"] and values["camera_frame_id"] == values["odom_frame_id"]:
        return (f"camera_frame_id and odom_frame_id must differ, both are {values['odom_frame_id']!r} "
                "(the odometry is the camera's pose in the odom frame)")
    if values["depth_encoding"] == "16UC1" and not values["metric_scale"] > 0:
        return (f"depth_encoding 16UC1 (millimetres) needs metric_scale > 0 (metres per network unit), got "
                f"metric_scale {values['metric_scale']!r}; without a metric scale use 32FC1 (relative units)")
    return None


def validate_update(parameters: list[Any], current: Mapping[str, Any] | None = None) -> SetParametersResult:
    """Check parameters about to be set (an ``add_on_set_parameters_callback`` hook).

    Args:
        parameters: ``rclpy.parameter.Parameter`` objects being set; names outside :data:`PARAMETERS` (rclpy's own,
            such as ``use_sim_time``) pass.
        current: ``{name: value}`` of every parameter before the update, to check the rules between parameters on
            the values after it (:func:`consistency_error`); ``None`` skips those rules (while declaring).

    Returns:
        ``SetParametersResult``: refused with a reason naming the parameter, the value and what is allowed.
    """
    for param in parameters:
        spec = SPECS.get(param.name)
        error = spec.validate(param.value) if spec is not None else None
        if error:
            return SetParametersResult(successful=False, reason=error)
    if current is not None:
        error = consistency_error({**current, **{p.name: p.value for p in parameters if p.name in SPECS}})
        if error:
            return SetParametersResult(successful=False, reason=error)
    return SetParametersResult(successful=True)


def _declare_error(spec: ParamSpec, err: Exception) -> ParameterError:
    """One-line :class:`ParameterError` from rclpy's refusal to declare ``spec`` with its start-up value.

    rclpy words it ``Invalid parameter value (V) for parameter. Reason: R: NAME``; ``R`` is this module's message,
    or rclpy's own for a range check, which then gets what is allowed in front.
    """
    reason = str(err).split(_RCLPY_REASON_MARKER, 1)[-1].removesuffix(f": {spec.name}")
    if not reason.startswith(spec.name + " "):
        reason = f"{spec.name} must be {spec.allowed()} ({reason})"
    return ParameterError(reason)


def declare_all(node: Any) -> Callable[[list[Any]], SetParametersResult]:
    """Declare every parameter of :data:`PARAMETERS` on ``node`` with its descriptor, validating the start-up values
    (overrides from ``-p``, ``--params-file`` or ``parameter_overrides``) exactly as run-time sets are validated.

    Registers the validation callback on ``node`` before declaring (so the start-up values pass through it) and
    returns it.

    Raises:
        ParameterError: a start-up value of the wrong type, out of range, not among the choices, or breaking a rule
            between parameters (:func:`consistency_error`).
    """
    declared = False

    def on_set(parameters: list[Any]) -> SetParametersResult:
        return validate_update(parameters, current_values(node) if declared else None)

    node.add_on_set_parameters_callback(on_set)
    for spec in PARAMETERS:
        try:
            node.declare_parameter(spec.name, spec.default, spec.descriptor())
        except (InvalidParameterValueException, InvalidParameterTypeException) as err:
            raise _declare_error(spec, err) from None
    error = consistency_error(current_values(node))
    if error:
        raise ParameterError(error)
    declared = True
    return on_set


def current_values(node: Any) -> dict[str, Any]:
    """``{name: value}`` of all parameters of :data:`PARAMETERS`."""
    return {spec.name: node.get_parameter(spec.name).value for spec in PARAMETERS}
