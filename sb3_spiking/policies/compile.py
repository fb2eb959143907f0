"""Optional ``torch.compile`` of a policy's spiking network (the ``compile_network`` option of the policies)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def maybe_compile(fn: Callable[..., Tensor], compile_network: bool) -> Callable[..., Tensor]:
    """
    The network's forward function, compiled on first use if asked.

    Pass a bound method (``net.forward``), not a module: compiling a module would wrap it in another module and
    change the keys of the policy's state dict.

    :param fn: forward function of the network
    :param compile_network: whether to run it through ``torch.compile``
    :return: ``torch.compile(fn)`` or ``fn`` itself
    """
    return torch.compile(fn) if compile_network else fn
