"""What every trainer shares: the training loop (checkpoints, resume, time budget, best state) and recipes."""
