"""Prefect flows and the `storyteller` command line."""

import logging

# Beam warns on import that optional GCP client libraries are absent; they are not used here, and
# the warning would open every command's output.
logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())
