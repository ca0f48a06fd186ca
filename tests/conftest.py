"""Shared fixtures: where ../shared/data is, and Beam flags that keep small test jobs quick."""

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NOVELS = SHARED_DATA / "novels"
CAPTIONS = SHARED_DATA / "captions"
# One in-process worker: small jobs finish faster without spawning worker processes.
IN_PROCESS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
