"""Run a ``python -m <module> ...`` command line inside the test process instead of a child process.

A child process pays the imports of torch, Lightning and the package again (about 7 s for ``python -m training fit``
on two cores, most of it Lightning importing torchmetrics, scipy.signal and torch._dynamo); in the test process they
are loaded once. The command still goes through the module's ``__main__`` (``runpy``, as ``python -m`` does), so its
argument parsing, dispatch and exit status are the ones of the real command. Tests that are about the process itself
(a kill, an exit code, a console script) keep a real child process.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys

import cv2
import torch


def run_module(command: list[str]) -> None:
    """Run ``command`` (``[sys.executable, "-m", module, *args]``) in this process, like
    ``subprocess.run(command, check=True)``.

    What a child process could not leak is put back afterwards: ``sys.argv``, the environment (Lightning's
    ``seed_everything`` sets ``PL_GLOBAL_SEED``) and torch's and OpenCV's thread counts (the estimator sets them).

    Raises:
        ValueError: ``command`` is not ``python -m <module> ...`` with this interpreter.
        subprocess.CalledProcessError: the command exited with a nonzero status.
    """
    if command[:2] != [sys.executable, "-m"] or len(command) < 3:
        raise ValueError(f"not a `{sys.executable} -m <module>` command: {command}")
    argv, environ = sys.argv, dict(os.environ)
    threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    sys.argv = ["-m", *command[3:]]  # runpy puts the module's file name in argv[0], as `python -m` does
    try:
        runpy.run_module(command[2], run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        sys.argv = argv
        os.environ.clear()
        os.environ.update(environ)
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv_threads)
    if status != 0:
        raise subprocess.CalledProcessError(status, command)
