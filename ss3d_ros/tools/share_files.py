"""Files the tools ship with: ``config/`` of a source checkout or of the installed ``share/ss3d_ros`` folder, and the
bundled sample clip (package data of ``ss3d_ros``)."""

from __future__ import annotations

import os
from pathlib import Path

FASTDDS_PROFILE = "fastdds_large_messages.xml"
# ss3d_ros/ (the package folder; tools/ is one level below it).
PACKAGE_DIR = Path(__file__).resolve().parent.parent
# The bundled dashcam clip (samples/README.md: source and licence): what `make demo` and ss3d_bench play.
SAMPLE_VIDEO = PACKAGE_DIR / "samples" / "udacity_solidwhiteright.mp4"


def config_file(name: str) -> Path | None:
    """``config/<name>`` of this source checkout, else of the ament share folder, else ``None``."""
    source = PACKAGE_DIR.parent / "config" / name
    if source.is_file():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory("ss3d_ros")) / "config" / name
    except (ImportError, LookupError, ValueError):
        return None
    return installed if installed.is_file() else None


def use_large_message_transport() -> None:
    """Point Fast DDS at the shared-memory profile for full-size images, unless the user configured a profile.

    Must run before ``rclpy.init`` in this process; child processes inherit it.
    """
    if "FASTDDS_DEFAULT_PROFILES_FILE" in os.environ or "FASTRTPS_DEFAULT_PROFILES_FILE" in os.environ:
        return
    profile = config_file(FASTDDS_PROFILE)
    if profile is not None:
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
