"""Prefect artifacts of a flow run: what each stage did, the style vectors of an encoder, and a sample of
the stories told. Artifacts are what someone opening the Prefect UI the next morning reads first, so
each one stands alone: counts that add up, timings, and paths to the full outputs."""

import json
import re
from uuid import UUID

import numpy as np
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import TaskRunContext

from data_schemas import stories as st
from data_schemas.features import IMAGE_ID
from data_schemas.storage import Location, location
from flows.prefect.cache import UP_TO_DATE, StageSummary
from pipelines.style.files import cosines_to_others, list_styles, read_style

SAMPLE_STORIES = 5


def artifact_key(*parts: str) -> str:
    """Artifact keys may hold only lowercase letters, digits and dashes."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower())).strip("-")


def summary_markdown(title: str, summaries: list[StageSummary]) -> str:
    """One table row per stage: its verdict, rows in, out and rejected (with whether they add up), seconds."""
    lines = [f"# {title}", "", "| stage | action | rows in | rows out | rejected | balance | seconds |",
             "|---|---|---:|---:|---:|---|---:|"]
    for s in summaries:
        balance = ("ok" if s.rows_in == s.rows_out + s.rejected else "MISMATCH") if s.balanced else "-"
        lines.append(f"| {s.stage} | {s.action} | {s.rows_in} | {s.rows_out} | {s.rejected} | {balance} | "
                     f"{s.seconds:.1f} |")
    total = sum(s.seconds for s in summaries)
    cached = sum(s.action in UP_TO_DATE for s in summaries)
    lines += ["", f"{len(summaries)} stage(s), {cached} already up to date, {total:.1f}s of stage time."]
    notes = [f"- **{s.stage}**: {json.dumps(s.details, sort_keys=True, default=str)}" for s in summaries if s.details]
    return "\n".join(lines + (["", "Details:", *notes] if notes else [])) + "\n"


def publish_summary(flow_name: str, summaries: list[StageSummary]) -> UUID:
    return create_markdown_artifact(summary_markdown(flow_name, summaries), key=artifact_key(flow_name, "summary"),
                                    description=f"rows and timings of every stage of {flow_name}")


def style_rows(workspace: Location, encoder: str) -> list[dict]:
    """One row per style of the encoder: where it came from, what it averages, its size and norm."""
    rows, encoder_id = [], location(encoder).name
    for name in list_styles(workspace, encoder):
        found = read_style(workspace, encoder, name)
        meta = found.meta
        rows.append({"style": name, "encoder": encoder_id, "source": meta.get("source", ""),
                     "corpora": ",".join(meta.get("corpora", [])), "kind": meta.get("kind", ""),
                     "filter": json.dumps(meta.get("filter")), "count": meta.get("count", ""),
                     "dim": int(found.vector.shape[0]), "norm": round(float(np.linalg.norm(found.vector)), 4),
                     "cos to the others": " ".join(f"{other} {cos:.3f}" for other, cos in
                                                    cosines_to_others(workspace, encoder, name).items())})
    return rows


def publish_styles(workspace: str | Location, encoder: str) -> UUID:
    """ENCODER: an id, a model folder, or the local copy of a stored one (named by the stored folder)."""
    encoder_id = location(encoder).name
    return create_table_artifact(style_rows(location(workspace), encoder), key=artifact_key("styles", encoder_id),
                                 description=f"style vectors of encoder {encoder_id}")


def stories_markdown(jsonl: Location, gallery: Location | None, sample: int = SAMPLE_STORIES) -> str:
    """The gallery's path and the first stories (image and text) of the JSONL."""
    rows = [json.loads(line) for line in location(jsonl).read_text(encoding="utf-8").splitlines()]
    lines = ["# Stories", "", f"{len(rows)} stories in `{jsonl}`" + (f"; gallery: `{gallery}`" if gallery else ""),
             "", "| image | story |", "|---|---|"]
    for row in rows[:sample]:
        story = row[st.STORY].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {row[IMAGE_ID]} | {story} |")
    return "\n".join(lines) + "\n"


def publish_stories(jsonl: Location, gallery: Location | None, name: str) -> UUID:
    return create_markdown_artifact(stories_markdown(jsonl, gallery), key=artifact_key("stories", name),
                                    description="a sample of the stories and where the gallery is")


class StageProgressArtifact:
    """A stage's record progress as a Prefect progress artifact, so a served run shows it in the UI; sent
    when the percentage moves by a whole point, and 100 once the stage's job has finished."""

    def __init__(self, label: str):
        self.label, self.sent = label, 0
        self.id = create_progress_artifact(0.0, key=artifact_key(label, "progress"),
                                           description=f"records done by the {label} job")

    def update(self, done: int, total: int | None) -> None:
        percent = min(100, 100 * done // total) if total else 0
        if percent > self.sent:
            update_progress_artifact(self.id, float(percent))
            self.sent = percent

    def close(self, done: int, total: int | None) -> None:
        update_progress_artifact(self.id, 100.0, description=f"{done:,} records done by the {self.label} job")


def stage_progress_artifact(label: str) -> StageProgressArtifact | None:
    """The progress sink of a stage that runs inside a Prefect task run (see pipelines.core.progress)."""
    return StageProgressArtifact(label) if TaskRunContext.get() is not None else None
