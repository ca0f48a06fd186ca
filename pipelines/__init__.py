"""Beam jobs of storyteller, one module per stage, with the pure text functions they use."""
