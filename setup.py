"""ament_python build of the ss3d_ros package (installs ss3d_core and ss3d_ros; training/ stays a source folder)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ss3d_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["ss3d_core", "ss3d_core.*", "ss3d_ros", "ss3d_ros.*"]),
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
    # The TensorRT backend (NVIDIA GPUs only); see requirements-tensorrt.txt.
    extras_require={"tensorrt": ["torch-tensorrt==2.13.0"]},
    zip_safe=False,
    maintainer="SS3D-ROS maintainers",
    maintainer_email="maintainers@ss3d-ros.dev",
    description="Monocular depth, ego-motion and intrinsics from one camera (SS3D) as a ROS 2 node",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "ss3d_node = ss3d_ros.node_main:main",
            "ss3d_demo = ss3d_ros.demo:main",
            "ss3d_eval = ss3d_core.evaluation.cli:main",
            "ss3d_replay = ss3d_ros.replay:main",
            "ss3d_export = ss3d_core.backends.export_cli:main",
            "ss3d_bench = ss3d_ros.bench.cli:main",
        ],
    },
)
