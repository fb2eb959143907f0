"""policies of sb3-spiking."""
