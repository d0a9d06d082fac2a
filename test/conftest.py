"""Shared fixtures. ROS isolation: localhost-only discovery, a per-session domain id, logs in a temp dir."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE_VIDEO = REPO / "ss3d_ros" / "samples" / "udacity_solidwhiteright.mp4"
SHARED_DATA = REPO.parent / "shared" / "data"
NEEDS_SHARED = "needs ../shared/data (not in the repo)"

# Set before any rclpy import in this process, and inherited by child processes.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(30, 99))
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="ss3d_roslog_"))
os.environ.setdefault("SS3D_CACHE_DIR", tempfile.mkdtemp(prefix="ss3d_cache_"))
# One OpenMP thread for torch here and in the processes the tests start, unless the caller sets it: the tests run tiny
# networks, where a second intra-op thread saves nothing and, on two cores shared with the test's own subprocesses (a
# node, a fit) or another job, its spinning made fits 5-20x slower (test_training.py 175 s -> 89 s under load). The
# estimator and the backends still set their own thread counts (num_threads), as on a robot.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Full-size images over shared memory (see config/fastdds_large_messages.xml).
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds_large_messages.xml"))


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU (and torch-tensorrt for TensorRT); skipped elsewhere")


@pytest.fixture(scope="session")
def sample_frames() -> list[np.ndarray]:
    """First 3 frames (every 2nd) of the bundled real dashcam video, 960×540 uint8 RGB."""
    from ss3d_core.io.video import iter_video_frames

    return [rgb for _, rgb in iter_video_frames(SAMPLE_VIDEO, stride=2, max_frames=3)]


@pytest.fixture(scope="session")
def tiny_config():
    """A small architecture so tests run in milliseconds."""
    from ss3d_core.network import SS3DNetConfig

    return SS3DNetConfig(encoder_channels=(8, 8, 16, 16, 32), decoder_channels=(8, 8, 8, 16, 16), motion_channels=32,
                         input_height=64, input_width=96)


@pytest.fixture()
def tiny_checkpoint(tmp_path, tiny_config):
    """A randomly initialised tiny checkpoint saved to ``tmp_path`` (path without suffix)."""
    import torch

    from ss3d_core.checkpoint import CheckpointMetadata, save_checkpoint
    from ss3d_core.network import SS3DNet

    torch.manual_seed(0)
    path = tmp_path / "tiny"
    save_checkpoint(SS3DNet(tiny_config).eval(), path,
                    CheckpointMetadata(architecture=tiny_config, intrinsics_prior=(0.8, 1.2, 0.5, 0.5)))
    return path
