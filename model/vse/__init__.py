"""The visual-semantic embedding: the network, its model folder, Python API, loss, recall, training, release import."""
