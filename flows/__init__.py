"""Prefect flows and the `storyteller` command line."""
