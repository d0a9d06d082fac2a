"""The node's parameters: one table with descriptors (description, unit, range, choices) and validation.

Defaults here equal ``config/ss3d.yaml`` (a test checks it). ``read_only`` parameters are fixed at start-up
(they select and load the model); the others may be changed at run time with ``ros2 param set`` and are validated
before they take effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult

# ss3d_core.backends.BACKEND_NAMES (a test keeps them equal; ss3d_ros does not import torch to read it).
BACKEND_CHOICES = ("auto", "tensorrt", "torch-cuda", "onnxruntime", "torch")
PRECISIONS = ("fp16", "fp32")
DEPTH_ENCODINGS = ("32FC1", "16UC1")  # REP 118
OUTPUT_SIZES = ("network", "input")


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
        """rcl_interfaces descriptor shown by ``ros2 param describe``."""
        text = self.description + (f" Unit: {self.unit}." if self.unit else "")
        constraints = f"one of {', '.join(self.choices)}" if self.choices else ""
        desc = ParameterDescriptor(description=text, additional_constraints=constraints, read_only=self.read_only)
        if self.value_range is not None:
            lo, hi = self.value_range
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
            elif isinstance(self.default, float):
                desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
        return desc

    def validate(self, value: Any) -> str | None:
        """Return an error message, or ``None`` when ``value`` is acceptable."""
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {self.choices}, got {value!r}"
        if self.value_range is not None and not isinstance(value, bool):
            lo, hi = self.value_range
            if not lo <= value <= hi:
                return f"{self.name} must be in [{lo}, {hi}], got {value}"
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
    ParamSpec("square_pixels", True, "Publish learned intrinsics with fx = fy in input-image pixels (the network "
              "cannot see the source aspect ratio).", read_only=True),
    ParamSpec("use_camera_info", False, "Use K from the camera_info topic instead of the learned intrinsics."),
    ParamSpec("camera_frame_id", "", "Frame of depth/camera_info and odometry child; empty = the image's frame_id."),
    ParamSpec("odom_frame_id", "odom", "Odometry frame (REP 105), x forward / z up, level with the first camera pose."),
    ParamSpec("publish_tf", True, "Broadcast odom -> camera TF (needs tf2_ros; disable if the camera frame already "
              "has a parent in your TF tree)."),
    ParamSpec("depth_encoding", "32FC1", "REP 118 depth encoding: 32FC1 (metres or relative units, NaN invalid) or "
              "16UC1 (millimetres, 0 invalid; only meaningful with metric_scale > 0).", choices=DEPTH_ENCODINGS),
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
)
SPECS = {spec.name: spec for spec in PARAMETERS}


def declare_all(node: Any) -> None:
    """Declare every parameter of :data:`PARAMETERS` on ``node`` with its descriptor."""
    for spec in PARAMETERS:
        node.declare_parameter(spec.name, spec.default, spec.descriptor())


def validate_update(parameters: list[Any]) -> SetParametersResult:
    """``add_on_set_parameters_callback`` hook: reject unknown names, wrong types and out-of-range values."""
    for param in parameters:
        spec = SPECS.get(param.name)
        if spec is None:
            continue  # parameters of rclpy itself (use_sim_time, ...)
        value = param.value
        if type(value) is not type(spec.default):
            return SetParametersResult(successful=False,
                                       reason=f"{param.name} must be {type(spec.default).__name__}, got {value!r}")
        error = spec.validate(value)
        if error:
            return SetParametersResult(successful=False, reason=error)
    return SetParametersResult(successful=True)


def current_values(node: Any) -> dict[str, Any]:
    """``{name: value}`` of all parameters of :data:`PARAMETERS`."""
    return {spec.name: node.get_parameter(spec.name).value for spec in PARAMETERS}
