"""Export a trained spiking policy to NIR for neuromorphic toolchains: graph + what stays on the host.

A Pop-SAN actor (LIF neurons): writes ``OUTPUT`` (the spiking layers, Input -> Affine -> CubaLIF -> ... -> Output) and
``OUTPUT`` with suffix ``.host.npz`` (observation normalisation, population encoder and decoder, read by
``sb3_spiking.export.host_encode`` / ``host_decode``). A policy with a seed 003 LIF core (RecurrentTD3, RecurrentDQN,
QMIX, RecurrentPPO ``LIFRecurrentPolicy``): the core as Input -> Affine -> LIF -> ... -> Output, one step per env
step, and the host file holds the observation normalisation and the layers around the core. Needs the extra
``[nir]``. Example::

    sb3-spiking export trained_agents/td3-SpikingPopPolicy-Pendulum-v1 -o policy.nir
"""

from __future__ import annotations

import argparse

from sb3_spiking.cli.energy import add_source_arguments, load_source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the parser of ``sb3-spiking export``"""
    add_source_arguments(parser)
    parser.add_argument("-o", "--output", required=True, help="the graph file to write (e.g. policy.nir)")
    parser.add_argument("--dt", type=float, default=1e-4, help="time step of the CubaLIF / LIF mapping (default 1e-4)")


def run(args: argparse.Namespace) -> int:
    """
    :param args: the parsed arguments
    :return: exit status
    """
    from stable_baselines3.common.vec_env import unwrap_vec_normalize

    from sb3_spiking.export import export_nir

    model, env = load_source(args)
    graph, host = export_nir(model, args.output, vec_normalize=unwrap_vec_normalize(env), dt=args.dt)
    print(f"NIR graph: {graph}\nhost encoder / decoder: {host}")
    return 0
