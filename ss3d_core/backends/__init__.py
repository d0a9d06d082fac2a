"""Inference backends behind one interface (:class:`InferenceBackend`), chosen by :func:`create_backend`."""

from ss3d_core.backends.base import BackendOptions, BackendUnavailable, InferenceBackend, PairPrediction
from ss3d_core.backends.factory import BACKEND_NAMES, BACKENDS, build_backend, create_backend

__all__ = ["BACKEND_NAMES", "BACKENDS", "BackendOptions", "BackendUnavailable", "InferenceBackend", "PairPrediction",
           "build_backend", "create_backend"]
