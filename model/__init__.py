"""Torch modules, training loops and loaders of the original released weights (no Beam, no Prefect)."""
