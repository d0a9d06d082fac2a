"""Architecture boundaries (GUIDE §2), stated once:

- ``ss3d_core`` (installed on robots) never imports ROS, the node package, evaluation or training;
- ``ss3d_eval`` (evaluation) imports the core, never ROS, the node package or training;
- ``training/`` imports the core (and evaluation's metrics), reads bags with rosbags, never ROS or ``ss3d_ros``;
- the node package (``ss3d_ros`` without ``ss3d_ros.tools``) never imports training, evaluation or its tooling, and
  does no tensor math;
- a robot install (``SS3D_INSTALL=robot``) leaves evaluation and the tooling out, and every installed command's module
  is installed;
- inside ``training/``, the sub-packages form the layers of :data:`TRAINING_LAYERS` (lowest first): a module imports
  only its own layer and the ones below, the module graph has no cycle, and the only flat modules are the entry points.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


# training/'s sub-packages, lowest layer first: a module may import its own layer and the layers before it, never one
# after it. labels: flow, verified flow, triangulated depth; data: clips, frames, shots, manifest, samples; sfm: the
# COLMAP teacher's store and labels; corpus: MVS proxy, rigidity, curriculum, domains, training cache; selfcheck: the
# ground-truth-free checks; fit: DataModule, LightningModule, distillation, export, LightningCLI; pipeline: make
# train's schedule, targets, adoption rule; finetune: one robot log, fine-tuned and reported.
TRAINING_LAYERS = ("labels", "data", "sfm", "corpus", "selfcheck", "fit", "pipeline", "finetune")
# The only modules directly in training/: the package marker and the ``python -m training`` dispatcher.
TRAINING_ENTRY_POINTS = {"__init__.py", "__main__.py"}


def _training_imports(path: Path) -> set[str]:
    """Every ``training.*`` module ``path`` imports (top level or inside a function), dotted; relative imports are
    resolved against the module's package."""
    package = path.relative_to(REPO).parent.parts
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names.add(module)
            # ``from training.x import y``: y may be a module of package x.
            names.update(f"{module}.{alias.name}" for alias in node.names
                         if (REPO / Path(*module.split("."), f"{alias.name}.py")).is_file())
    return {n for n in names if n.split(".")[0] == "training"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_training_has_no_flat_module_but_its_entry_points():
    flat = {p.name for p in (REPO / "training").glob("*.py")}
    assert flat == TRAINING_ENTRY_POINTS
    packages = {p.parent.name for p in (REPO / "training").glob("*/__init__.py")}
    assert packages == set(TRAINING_LAYERS), "every training sub-package is a layer of TRAINING_LAYERS"


@pytest.mark.parametrize("package", TRAINING_LAYERS)
def test_training_package_says_what_it_owns_and_may_import(package: str):
    """Each sub-package's ``__init__`` docstring is the newcomer's map: what it owns (its modules), its layer rule."""
    init = REPO / "training" / package / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    assert "import" in doc and "test_boundaries" in doc, f"{init}: say what it may import (the layer rule)"
    modules = {p.stem for p in init.parent.glob("*.py")} - {"__init__"}
    missing = {m for m in modules if f":mod:`.{m}`" not in doc and f":mod:`training.{package}.{m}`" not in doc}
    assert not missing, f"{init}: the docstring does not name {sorted(missing)}"


@pytest.mark.parametrize("package", TRAINING_LAYERS)
def test_training_imports_point_down_the_layers(package: str):
    """A module of layer i imports only training modules of layers <= i (TRAINING_LAYERS)."""
    upward = []
    layer = TRAINING_LAYERS.index(package)
    for path in (REPO / "training" / package).rglob("*.py"):
        for name in _training_imports(path):
            parts = name.split(".")
            target = parts[1] if len(parts) > 1 else None
            if target is None or target not in TRAINING_LAYERS or TRAINING_LAYERS.index(target) > layer:
                upward.append(f"{path.relative_to(REPO)} -> {name}")
    assert not upward, "imports running back up training's layers:\n" + "\n".join(sorted(upward))


def test_training_module_graph_has_no_cycle():
    """No import cycle between training's modules, within a layer either (a topological order exists)."""
    modules = {_module_name(p): p for p in (REPO / "training").rglob("*.py")}
    graph = {name: {m for m in _training_imports(path) if m in modules and m != name} for name, path in modules.items()}
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {name for name, deps in graph.items() if name not in done and deps <= done}
        assert ready, f"import cycle among {sorted(set(graph) - done)}"
        done |= ready


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
