"""Pure-torch spiking building blocks (no reinforcement learning, nothing from SB3)."""
