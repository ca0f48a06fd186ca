"""A stage that rejected every record it read wrote nothing but rejects: the run fails, so a script or a flow
does not go on as if it had worked. The CLI exits with ALL_REJECTED_EXIT for it (not the 1 of other errors),
a flow fails with its message; a run that kept some records succeeds, its rejects listed as usual."""

from pathlib import Path

ALL_REJECTED_EXIT = 3


class AllRejectedError(ValueError):
    """Every record of a stage was rejected: nothing to go on with (a user's input error, never retried)."""

    exit_code = ALL_REJECTED_EXIT


def check_some_kept(stage: str, stats: dict[str, int], rejects: Path | str | None) -> None:
    """Raise AllRejectedError when `stats` count rejected records and no record out."""
    rejected = stats.get("records_rejected", 0)
    if rejected and not stats.get("records_out", 0):
        where = f"see {rejects}" if rejects else "see the stage's rejects"
        raise AllRejectedError(f"{stage}: all {rejected} records were rejected; {where}")
