"""algos of sb3-spiking."""
