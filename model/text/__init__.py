"""Text as the models read it: Treebank tokens, Punkt sentences, length-bucketed batches."""
