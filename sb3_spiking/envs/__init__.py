"""envs of sb3-spiking."""
