"""``torch.compile`` (TorchDynamo + the Inductor backend, PyTorch 2) of the network's parts in the training step.

The training step never calls :meth:`ss3d_core.network.SS3DNet.forward`: it encodes the three frames of a sample with
:meth:`~ss3d_core.network.SS3DNet.encode` and runs :meth:`~ss3d_core.network.SS3DNet.predict_depth` and
:meth:`~ss3d_core.network.SS3DNet.predict_motion` on the features (:class:`training.fit.module.SS3DLightningModule`).
Compiling the network itself would therefore compile nothing the step runs; this compiles the three parts those
methods call, the encoder, the depth decoder and the motion head (one graph each, the head's graph shared by its two
calls per sample), with :meth:`torch.nn.Module.compile`. That keeps every module and parameter where it was, so the
state dict keys, the Lightning checkpoints and the export (:mod:`training.fit.export`) are those of the eager network;
``torch.compile(module)`` would instead wrap it in an ``OptimizedModule`` whose keys gain an ``_orig_mod.`` prefix.
The shape checks of :meth:`~ss3d_core.network.SS3DNet.encode` stay in eager Python.

Compilation is lazy: the first call of each part in a new mode (training, evaluation, ``no_grad``) traces and builds its
kernels (131 s for the shipped network's first training step on 2 busy cores), and a changed input shape (the last
validation batch) builds another graph, dynamic in that dimension. A pickled module drops the compiled wrappers
(:meth:`torch.nn.Module.__getstate__`), so a ``ddp_spawn`` run must compile in each process: the module does it in its
``setup`` hook.
"""

from __future__ import annotations

from torch import nn

__all__ = ["compile_network_parts", "compiled_parts"]


def _parts(net: nn.Module) -> tuple[nn.Module, ...]:
    return net.encoder, net.depth_decoder, net.motion_head


def compile_network_parts(net: nn.Module) -> None:
    """Compile the encoder, depth decoder and motion head of ``net`` (an :class:`ss3d_core.network.SS3DNet`) in place
    with the Inductor backend; parts already compiled are left as they are (a second ``setup`` recompiles nothing)."""
    for part in _parts(net):
        if getattr(part, "_compiled_call_impl", None) is None:
            part.compile()


def compiled_parts(net: nn.Module) -> list[str]:
    """Class names of the parts of ``net`` that :func:`compile_network_parts` compiled, in order."""
    return [type(part).__name__ for part in _parts(net) if getattr(part, "_compiled_call_impl", None) is not None]
