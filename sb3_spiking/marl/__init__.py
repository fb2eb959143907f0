"""marl of sb3-spiking."""
