"""Schema of reject rows: every input a stage could not use, with where it came from and why."""

import pyarrow as pa

STAGE = "stage"
SOURCE = "source"
LOCATION = "location"
REASON = "reason"
SAMPLE = "sample"

# Longest excerpt of the offending input kept in a reject row: enough to recognise it, not to bloat.
SAMPLE_CHARS = 200

REJECTS = pa.schema(
    [
        pa.field(STAGE, pa.string(), nullable=False),
        # The input file (or artifact) the rejected row came from.
        pa.field(SOURCE, pa.string(), nullable=False),
        # Where in the source: "line 12", "paragraph 40", "annotation 3" or "" for the whole file.
        pa.field(LOCATION, pa.string(), nullable=False),
        pa.field(REASON, pa.string(), nullable=False),
        pa.field(SAMPLE, pa.string(), nullable=False),
    ]
)


def reject_row(stage: str, source: str, location: str, reason: str, sample: str = "") -> dict:
    """A reject row; the sample is cut so that one absurd input cannot make the rejects huge."""
    return {
        STAGE: stage,
        SOURCE: source,
        LOCATION: location,
        REASON: reason,
        SAMPLE: sample[:SAMPLE_CHARS],
    }
