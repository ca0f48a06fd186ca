"""Style recomputation, the nightly job: rebuild the corpora from their sources, re-encode what changed,
and recompute the styles that depend on a changed corpus.

Nothing here compares files itself; each layer notices change by fingerprints:
- a corpus stage skips when its source files' sha256 and parameters match its `_meta.json`;
- an encode task is a Prefect cache hit while its corpus's `_meta.json` and the encoder's files are
  unchanged, and the stage rebuilds only on a changed corpus;
- a style task is a cache hit while the vector `_meta.json` of its corpora is unchanged, so a style
  none of whose corpora changed is not read at all; otherwise `pipelines.style.job.run` adds new shards to
  the stored sum, or recomputes the mean from scratch when a shard changed or went away.
The flow reports which corpora changed in this run and what each style did.
"""

from dataclasses import dataclass, field

from prefect import flow, get_run_logger

from data_schemas.workspace import Workspace
from flows.prefect import tasks as tasks
from flows.prefect.artifacts import publish_styles, publish_summary
from flows.prefect.cache import UP_TO_DATE, StageSummary, run_stage
from flows.prefect.stage_flows import CorpusSource, build_corpus
from flows.prefect.workspace import WorkspaceLocation
from pipelines import encode


@dataclass(frozen=True)
class StyleSpec:
    """A style to keep up to date: the mean vector of the corpora's texts of `kind` (passages or
    captions), of those with more than `min_tokens` tokens when given (romance: passages over 100)."""

    name: str
    corpora: list[str]
    kind: str = "passages"
    min_tokens: int | None = None


@dataclass(frozen=True)
class RestyleReport:
    changed_corpora: list[str]
    recomputed_styles: list[str]
    summaries: list[StageSummary] = field(default_factory=list)


def _needed_vectors(styles: list[StyleSpec]) -> list[tuple[str, str]]:
    """(corpus, kind) pairs the styles average over, in first-use order."""
    return list(dict.fromkeys((corpus, spec.kind) for spec in styles for corpus in spec.corpora))


@flow(name="restyle")
def restyle_flow(workspace: WorkspaceLocation, encoder: str, corpora: list[CorpusSource], styles: list[StyleSpec],
                 device: str = "auto", beam_args: list[str] | None = None) -> RestyleReport:
    """Bring the corpora up to date with their sources, encode them with ENCODER (an id under WS/models
    or a folder), and recompute each style whose corpora changed."""
    logger = get_run_logger()
    known = {corpus.name for corpus in corpora}
    for spec in styles:
        unknown = sorted(set(spec.corpora) - known)
        if unknown:
            raise ValueError(f"style {spec.name!r} reads corpora {unknown} that `corpora` does not list")
    built = [build_corpus(corpus, workspace, beam_args) for corpus in corpora]
    changed = [corpus.name for corpus, summary in zip(corpora, built, strict=True) if summary.action not in UP_TO_DATE]
    model_dir = Workspace(workspace).resolve_model(encoder, "encoder")
    params = encode.EncodeParams(str(model_dir), device=device)
    encoded = [run_stage(tasks.encode_corpus, params=params, corpus=corpus, kind=kind, workspace=workspace,
                         beam_args=beam_args) for corpus, kind in _needed_vectors(styles)]
    styled = [run_stage(tasks.compute_style, name=spec.name, corpora=spec.corpora, kind=spec.kind,
                        encoder=str(model_dir), workspace=workspace, min_tokens=spec.min_tokens, beam_args=beam_args)
              for spec in styles]
    recomputed = [spec.name for spec, summary in zip(styles, styled, strict=True) if summary.action not in UP_TO_DATE]
    logger.info("corpora changed: %s; styles recomputed: %s", changed or "none", recomputed or "none")
    summaries = [*built, *encoded, *styled]
    publish_summary("restyle", summaries)
    publish_styles(workspace, str(model_dir))
    return RestyleReport(changed, recomputed, summaries)
