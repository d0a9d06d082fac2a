"""Packaging: colcon builds the ament_python package; launch file, params file and declared parameters agree."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COLCON = Path(sys.executable).parent / "colcon"


def _launch_constants() -> dict[str, str]:
    tree = ast.parse((REPO / "launch" / "ss3d.launch.py").read_text())
    return {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.targets[0], ast.Name)
    }


def test_launch_file_names_the_installed_executable_and_an_existing_params_file():
    constants = _launch_constants()
    assert constants["PACKAGE"] == ET.parse(REPO / "package.xml").getroot().findtext("name") == "ss3d_ros"
    console_scripts = re.findall(r'"(\w+) = [\w.]+:main"', (REPO / "setup.py").read_text())
    assert constants["EXECUTABLE"] in console_scripts
    assert (REPO / "config" / constants["PARAMS_FILE"]).is_file()
    assert (REPO / "config" / constants["RVIZ_FILE"]).is_file()
    source = (REPO / "launch" / "ss3d.launch.py").read_text()
    for argument in ("params_file", "checkpoint", "namespace", "image_topic"):
        assert f'DeclareLaunchArgument("{argument}"' in source
    assert source.count("description=") >= source.count("DeclareLaunchArgument(")


def test_params_file_matches_declared_defaults():
    from ss3d_ros.parameters import PARAMETERS

    values = yaml.safe_load((REPO / "config" / "ss3d.yaml").read_text())["/**"]["ros__parameters"]
    declared = {spec.name: spec.default for spec in PARAMETERS}
    assert values == declared
    for spec in PARAMETERS:
        assert spec.validate(spec.default) is None, spec.name
        assert spec.description


def test_readme_states_the_limits_the_code_and_transport_profile_set():
    """The documented limits are the real ones: the shared-memory segment of the shipped Fast DDS profile (the largest
    frame that reaches the node), the smallest image side and the shortest twist time step."""
    import xml.etree.ElementTree as ET

    from ss3d_core.estimator import MIN_TWIST_DT_S
    from ss3d_core.preprocess import MIN_IMAGE_SIDE_PX

    readme = (REPO / "README.md").read_text()
    limits = readme[readme.index("## Limits and troubleshooting"):]
    limits = " ".join(limits[: limits.index("\n## ", 1)].split())  # line breaks do not matter
    profile = ET.parse(REPO / "config" / "fastdds_large_messages.xml").getroot()
    namespace = {"dds": "http://www.eprosima.com"}
    segment = int(profile.find(".//dds:segment_size", namespace).text)
    assert int(profile.find(".//dds:maxMessageSize", namespace).text) == segment
    assert f"{segment // 2**20} MiB shared-memory segment" in limits
    fits, too_big = 3840 * 2160 * 3, 4000 * 3000 * 3
    assert fits < segment < too_big
    assert f"({fits / 1e6:.1f} MB) passes" in limits and f"({too_big / 1e6:.0f} MB) never arrives" in limits
    assert f"under {MIN_IMAGE_SIDE_PX} pixels a side" in limits
    assert f"less than {MIN_TWIST_DT_S * 1e3:g} ms apart" in limits


def test_node_backend_choices_are_the_core_backends():
    from ss3d_core.backends import BACKEND_NAMES
    from ss3d_core.backends.base import PRECISIONS
    from ss3d_ros import parameters

    assert parameters.BACKEND_CHOICES is BACKEND_NAMES and parameters.PRECISIONS is PRECISIONS


def test_rviz_config_shows_depth_cloud_and_odometry():
    displays = yaml.safe_load((REPO / "config" / "ss3d.rviz").read_text())["Visualization Manager"]["Displays"]
    classes = {d["Class"] for d in displays}
    assert {"rviz_default_plugins/Image", "rviz_default_plugins/DepthCloud", "rviz_default_plugins/Odometry"} <= classes


@pytest.mark.skipif(not COLCON.exists(), reason="colcon is not installed in this environment")
def test_colcon_build_installs_a_runnable_node(tmp_path, tiny_checkpoint):
    src = tmp_path / "ws" / "src" / "ss3d_ros"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           check=True, capture_output=True, text=True).stdout.split()
    for name in files:
        if name.startswith(("test/", ".ci/")):
            continue
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    ws = tmp_path / "ws"
    subprocess.run([str(COLCON), "build", "--base-paths", "src"], cwd=ws, check=True, capture_output=True)
    install = ws / "install" / "ss3d_ros"
    node = install / "lib" / "ss3d_ros" / "ss3d_node"
    assert node.is_file()
    for shared in ("launch/ss3d.launch.py", "config/ss3d.yaml", "config/ss3d.rviz", "package.xml"):
        assert (install / "share" / "ss3d_ros" / shared).is_file(), shared
    site = next((install / "lib").glob("python3*/site-packages"))
    assert (site / "ss3d_core" / "models" / "ss3d_small.safetensors").is_file()
    assert not (site / "training").exists()
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    shown = subprocess.run([str(node), "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "usage: ss3d_node" in shown.stdout
    # Run the installed node for a moment with the installed params file.
    log = tmp_path / "node.log"
    with log.open("w") as out:
        params = install / "share/ss3d_ros/config/ss3d.yaml"
        proc = subprocess.Popen([str(node), "--ros-args", "--params-file", str(params),
                                 "-p", f"checkpoint:={tiny_checkpoint}", "-p", "backend:=torch",
                                 "-r", f"__ns:=/colcon{os.getpid()}"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
        deadline = time.monotonic() + 60
        while "active: waiting for images" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        proc.send_signal(2)
        assert proc.wait(20) == 0, log.read_text()
    assert "active: waiting for images" in log.read_text()
