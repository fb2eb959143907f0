"""
Export of spiking policies to neuromorphic toolchains through NIR (optional extra ``[nir]``).

- :func:`to_nir`, :func:`export_nir`: a Pop-SAN actor's spiking layers (CubaLIF), or the seed 003 LIF core of a
  RecurrentTD3 / RecurrentDQN / QMIX / RecurrentPPO policy (LIF), as a ``nir.NIRGraph`` / a ``.nir`` file with a
  ``.host.npz`` file beside it;
- :func:`host_encode`, :func:`host_decode`, :func:`load_host`: the encoder and decoder that stay on the host (NumPy).
"""

from sb3_spiking.export.graph import export_nir, to_nir
from sb3_spiking.export.host import (
    core_host_parameters,
    host_decode,
    host_encode,
    host_parameters,
    load_host,
    save_host,
)

__all__ = [
    "core_host_parameters",
    "export_nir",
    "host_decode",
    "host_encode",
    "host_parameters",
    "load_host",
    "save_host",
    "to_nir",
]
