"""The corpus stage: novels and caption sets to tokenised Parquet shards, and vocabularies over them."""
