"""Prefect flows: one task and one flow per stage, the end-to-end pipeline, restyle, bulk stories, schedules."""
