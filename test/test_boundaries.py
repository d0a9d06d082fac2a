"""Architecture boundaries (GUIDE §2), stated once:

- ``ss3d_core`` (installed on robots) never imports ROS, the node package, evaluation or training;
- ``ss3d_eval`` (evaluation) imports the core, never ROS, the node package or training;
- ``training/`` imports the core (and evaluation's metrics), reads bags with rosbags, never ROS or ``ss3d_ros``;
- the node package (``ss3d_ros`` without ``ss3d_ros.tools``) never imports training, evaluation or its tooling, and
  does no tensor math;
- a robot install (``SS3D_INSTALL=robot``) leaves evaluation and the tooling out, and every installed command's module
  is installed.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROS_MODULES = {"rclpy", "sensor_msgs", "nav_msgs", "geometry_msgs", "std_msgs", "diagnostic_msgs", "tf2_ros",
               "rcl_interfaces", "builtin_interfaces", "lifecycle_msgs"}
NODE_PACKAGE_FILES = [p for p in (REPO / "ss3d_ros").rglob("*.py") if "tools" not in p.relative_to(REPO).parts]


def _imports(files: list[Path], depth: int = 1) -> set[str]:
    """Absolute imports of ``files``, as their first ``depth`` dotted components."""
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(".".join(alias.name.split(".")[:depth]) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(".".join(node.module.split(".")[:depth]))
    return names


def _package(name: str) -> list[Path]:
    return list((REPO / name).rglob("*.py"))


def test_core_never_imports_ros_the_node_evaluation_or_training():
    assert not (_imports(_package("ss3d_core")) & (ROS_MODULES | {"ss3d_ros", "ss3d_eval", "training"}))


def test_core_imports_without_ros_at_runtime():
    code = ("import sys; import ss3d_core.estimator, ss3d_core.backends, ss3d_core.checkpoint, ss3d_core.losses; "
            "assert 'rclpy' not in sys.modules, 'rclpy was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_evaluation_never_imports_ros_the_node_or_training():
    assert not (_imports(_package("ss3d_eval")) & (ROS_MODULES | {"ss3d_ros", "training"}))


def test_training_never_imports_the_ros_layer():
    """training/ reads bags with rosbags and ss3d_core (no ROS message packages), and never the node package."""
    assert not (_imports(_package("training")) & (ROS_MODULES | {"ss3d_ros"}))


def test_node_package_never_imports_training_evaluation_or_its_tools():
    imports = _imports(NODE_PACKAGE_FILES, depth=2)
    assert not {name for name in imports if name.split(".")[0] in {"training", "ss3d_eval"}}
    assert "ss3d_ros.tools" not in imports


def test_ros_layer_has_no_tensor_math():
    assert not (_imports(_package("ss3d_ros")) & {"torch", "kornia", "onnxruntime"})


def _distribution(profile: str) -> tuple[set[str], dict[str, str]]:
    """setup.py's packages and console scripts for one install profile, read by running setup.py with ``setup()``
    replaced (nothing is built)."""
    code = ("import json, setuptools; kw = {}; setuptools.setup = lambda **a: kw.update(a); "
            "exec(compile(open('setup.py').read(), 'setup.py', 'exec')); "
            "print(json.dumps([kw['packages'], kw['entry_points']['console_scripts']]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                            env={**os.environ, "SS3D_INSTALL": profile})
    packages, scripts = json.loads(result.stdout)
    return set(packages), dict(entry.split(" = ") for entry in scripts)


def test_training_is_not_installed():
    for profile in ("full", "robot"):
        packages, _ = _distribution(profile)
        assert not {p for p in packages if p.split(".")[0] == "training"}


def test_robot_install_leaves_evaluation_and_tools_out():
    full, full_scripts = _distribution("full")
    robot, robot_scripts = _distribution("robot")
    assert {"ss3d_eval", "ss3d_ros.tools", "ss3d_ros.tools.bench"} <= full
    assert not {p for p in robot if p.startswith(("ss3d_eval", "ss3d_ros.tools"))}
    assert {"ss3d_core", "ss3d_core.estimator", "ss3d_core.backends", "ss3d_ros"} <= robot
    assert set(robot_scripts) == {"ss3d_node", "ss3d_export", "ss3d_calibrate"}
    assert {"ss3d_demo", "ss3d_eval", "ss3d_replay", "ss3d_bench"} <= set(full_scripts)
    for packages, scripts in ((full, full_scripts), (robot, robot_scripts)):
        for target in scripts.values():
            assert target.split(":")[0].rsplit(".", 1)[0] in packages, target
