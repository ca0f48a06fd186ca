"""The style stage: mean skip-thought vectors of corpora, their files, and the released styles' import."""
