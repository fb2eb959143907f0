"""sb3-spiking: spiking neural network policies for Stable-Baselines3.

Importing the package registers the spiking policy names on SB3 / sb3-contrib algorithms and the POMDP
environment ids with gymnasium.
"""

__version__ = "0.1.0"
