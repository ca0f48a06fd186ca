"""The skip-thought encoder: the network, its model folder, Python API, training and the released files."""
