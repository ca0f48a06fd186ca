"""The story decoder: the conditional GRU, its model folder, beam search, story text, training, release import."""
