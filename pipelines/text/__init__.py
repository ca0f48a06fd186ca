"""Pure text functions of the corpus stage: file encodings, Gutenberg boilerplate, chapters, passages."""
