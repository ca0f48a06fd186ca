"""Plain-text tables for what a command did, so every run ends with counts that add up."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the stage runner loads Beam: not for `--help`
    from pipelines.core.stage_run import StageReport


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def stage_summary(report: StageReport) -> str:
    """Rows in, out and rejected (they must add up), then rows written per output."""
    stats = report.stats
    rows_in, rows_out, rejected = (
        stats.get("records_in", 0),
        stats.get("records_out", 0),
        stats.get("records_rejected", 0),
    )
    balance = "ok" if rows_in == rows_out + rejected else "MISMATCH"
    head = (
        f"{report.stage}: {report.start.value}, {report.shards_run} of {report.shards} shards run "
        f"in {report.seconds:.1f}s"
    )
    if report.dry_run:  # nothing ran: the plan printed above is the whole answer, no counts to show
        return f"{report.stage}: {report.start.value} (dry run), {report.shards_run} of {report.shards} shards to run"
    counts = table(["rows", "in", "out", "rejected", "balance"], [["records", rows_in, rows_out, rejected, balance]])
    written = table(["output", "rows"], [[label, n] for label, n in report.rows.items()])
    return f"{head}\n{counts}\n{written}"


def print_stage(report: StageReport) -> None:
    """Every stage command's end: the summary on stdout, then, when the stage rejected every record, an
    AllRejectedError (exit code 3, see pipelines/core/all_rejected.py); a stage that kept some succeeds."""
    from pipelines.core.all_rejected import check_some_kept

    print(stage_summary(report))
    if not report.dry_run:
        check_some_kept(report.stage, report.stats, report.outputs.get("rejects"))
