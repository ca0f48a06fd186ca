"""Word vectors (word2vec over the corpora), their model folder, and what they give the other models:
vocabulary expansion of an encoder (reference a.3) and starting rows for the trainers' word embeddings."""
