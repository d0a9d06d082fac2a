"""ament_python build of the ss3d_ros package.

The default install has the node (``ss3d_ros``), the core (``ss3d_core``), evaluation (``ss3d_eval``) and the
demo/replay/bench tooling (``ss3d_ros.tools``). A robot install leaves evaluation and the tooling out:
``SS3D_INSTALL=robot colcon build --packages-select ss3d_ros`` (or ``SS3D_INSTALL=robot pip install .``) installs
``ss3d_core`` and ``ss3d_ros`` without ``ss3d_ros.tools``, with the ``ss3d_node``, ``ss3d_export`` and
``ss3d_calibrate`` commands only. ``training/`` is never installed (it stays a source folder).
"""

import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ss3d_ros"
ROBOT_INSTALL = os.environ.get("SS3D_INSTALL", "full") == "robot"
NODE_SCRIPTS = [
    "ss3d_node = ss3d_ros.node_main:main",
    "ss3d_export = ss3d_core.backends.export_cli:main",
    "ss3d_calibrate = ss3d_core.calibration.cli:main",
]
TOOL_SCRIPTS = [
    "ss3d_demo = ss3d_ros.tools.demo:main",
    "ss3d_eval = ss3d_eval.cli:main",
    "ss3d_replay = ss3d_ros.tools.replay:main",
    "ss3d_bench = ss3d_ros.tools.bench.cli:main",
]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(
        include=["ss3d_core", "ss3d_core.*", "ss3d_ros", "ss3d_ros.*"]
        + ([] if ROBOT_INSTALL else ["ss3d_eval", "ss3d_eval.*"]),
        exclude=["ss3d_ros.tools", "ss3d_ros.tools.*"] if ROBOT_INSTALL else [],
    ),
    package_data={
        "ss3d_core": ["models/*.safetensors", "models/*.json"],
        "ss3d_ros": ["samples/*.mp4", "samples/*.md"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
    ],
    install_requires=["setuptools"],
    # The TensorRT backend (NVIDIA GPUs only); see requirements-tensorrt.txt. COLMAP for ss3d_calibrate and the node's
    # self_calibrate (pinned as in requirements.txt).
    extras_require={"tensorrt": ["torch-tensorrt==2.13.0"], "calibration": ["pycolmap==4.2.1"]},
    zip_safe=False,
    maintainer="SS3D-ROS maintainers",
    maintainer_email="maintainers@ss3d-ros.dev",
    description="Monocular depth, ego-motion and intrinsics from one camera (SS3D) as a ROS 2 node",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={"console_scripts": NODE_SCRIPTS + ([] if ROBOT_INSTALL else TOOL_SCRIPTS)},
)
