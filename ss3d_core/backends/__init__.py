"""Inference backends behind one interface (:class:`InferenceBackend`), chosen by :func:`create_backend`."""

from ss3d_core.backends.base import BackendUnavailable, InferenceBackend, PairPrediction
from ss3d_core.backends.factory import BACKENDS, create_backend

__all__ = ["BACKENDS", "BackendUnavailable", "InferenceBackend", "PairPrediction", "create_backend"]
