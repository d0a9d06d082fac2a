"""Failures of reading a rosbag2 with rosbags, as one exception with one clear line.

rosbags reports a damaged bag through several types, depending on the storage and on where the damage is: a
truncated or zeroed sqlite3 file or garbage ``metadata.yaml`` raise ``AnyReaderError`` when the bag is opened,
corruption in the middle of a sqlite3 file raises ``apsw.CorruptError`` only when playback reaches it, a damaged MCAP
record raises ``ReaderError``, a missing file ``FileNotFoundError``. :func:`reading_bag` turns each of them into
:class:`BagReadError`, whose message names the bag and the cause, so callers catch one type (ROS-free: the replay
tools and the training bag reader can both use it).
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import apsw
import yaml
from rosbags.highlevel import AnyReaderError
from rosbags.rosbag2 import ReaderError
from rosbags.serde import SerdeError

__all__ = ["BAG_READ_ERRORS", "BagReadError", "reading_bag"]

#: What rosbags (and the sqlite/YAML/struct layers under it) raise on a bag that cannot be opened or read.
BAG_READ_ERRORS: tuple[type[Exception], ...] = (
    AnyReaderError, ReaderError, SerdeError, apsw.Error, sqlite3.Error, yaml.YAMLError, struct.error, EOFError,
    OSError,
)


class BagReadError(ValueError):
    """A rosbag2 that cannot be opened or read.

    Attributes:
        path: the bag (folder or file) as given.
        cause: the library's exception.
    """

    def __init__(self, path: str | Path, cause: BaseException):
        """Message: ``cannot read bag <path>: <cause type>: <cause>`` on one line."""
        self.path = Path(path)
        self.cause = cause
        detail = " ".join(str(cause).split()) or "no detail"
        super().__init__(f"cannot read bag {self.path}: {type(cause).__name__}: {detail}")


@contextmanager
def reading_bag(path: str | Path) -> Iterator[None]:
    """Context in which any of :data:`BAG_READ_ERRORS` becomes :class:`BagReadError` for ``path``.

    Wrap the opening of the reader and the loop over its messages (also inside a generator: an error met mid-file
    is raised where the loop stands, after the messages already yielded).

    Raises:
        BagReadError: from the original exception (``__cause__``).
    """
    try:
        yield
    except BagReadError:
        raise
    except BAG_READ_ERRORS as err:
        raise BagReadError(path, err) from err
