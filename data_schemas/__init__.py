"""Pyarrow schemas of every storyteller artifact, and the checks readers run against them."""

from data_schemas.rejects import REJECTS
from data_schemas.text import CAPTIONS, PASSAGES, SENTENCES, VOCAB
from data_schemas.validate import SchemaMismatchError, check_schema, read_table

__all__ = [
    "CAPTIONS",
    "PASSAGES",
    "REJECTS",
    "SENTENCES",
    "VOCAB",
    "SchemaMismatchError",
    "check_schema",
    "read_table",
]
