"""Architecture boundaries (GUIDE §2): ss3d_core never imports rclpy; ss3d_ros does no tensor math."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _imports(package: str) -> set[str]:
    names = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_ros():
    ros_modules = {"rclpy", "sensor_msgs", "nav_msgs", "geometry_msgs", "std_msgs", "diagnostic_msgs", "tf2_ros"}
    assert not (_imports("ss3d_core") & ros_modules)


def test_core_imports_without_ros_at_runtime():
    code = ("import sys; import ss3d_core.estimator, ss3d_core.backends, ss3d_core.checkpoint, ss3d_core.losses; "
            "assert 'rclpy' not in sys.modules, 'rclpy was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_ros_layer_has_no_tensor_math():
    assert not (_imports("ss3d_ros") & {"torch", "kornia", "onnxruntime"})


def test_training_is_not_installed():
    setup = (REPO / "setup.py").read_text()
    assert '"training"' not in setup and "training." not in setup


def test_training_never_imports_the_ros_layer():
    """training/ reads bags with rosbags and ss3d_core (no ROS message packages), and never the node package."""
    ros_modules = {"rclpy", "sensor_msgs", "nav_msgs", "geometry_msgs", "std_msgs", "diagnostic_msgs", "tf2_ros"}
    assert not (_imports("training") & (ros_modules | {"ss3d_ros"}))


def test_core_never_imports_training_or_the_node_package():
    assert not (_imports("ss3d_core") & {"training", "ss3d_ros"})


def test_node_package_never_imports_training():
    assert "training" not in _imports("ss3d_ros")
