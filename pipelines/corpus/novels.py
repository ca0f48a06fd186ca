"""Beam job: novels (.txt, .txt.gz) to tokenised `sentences` and `passages` shards, one per book.

read file -> decode -> strip Gutenberg -> chapters of paragraphs -> chunks
-> [spread] -> sentence split + Treebank tokens -> [regroup by book] -> sentences, passages
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import partial

import pyarrow as pa

from data_schemas import PASSAGES, SENTENCES
from data_schemas import text as col
from data_schemas.rejects import reject_row
from data_schemas.storage import Location, location
from data_schemas.workspace import Workspace
from model.text.sentences import split_sentences
from model.text.tokenize import tokenize
from pipelines.core.sharded_job import Chunk, ShardTask, WriteShard, sharded_build
from pipelines.core.stage_run import StageReport, run_sharded_stage
from pipelines.corpus.inputs import folder_inputs, glob_inputs, input_name
from pipelines.text.chapters import chapter_paragraphs
from pipelines.text.encodings import UnreadableTextError, read_text
from pipelines.text.gutenberg import strip_gutenberg
from pipelines.text.passages import PassageBounds, group_passages

STAGE = "corpus-novels"
SUFFIXES = (".txt", ".txt.gz")


@dataclass(frozen=True)
class NovelParams:
    passages: PassageBounds = field(default_factory=PassageBounds)
    # A paragraph longer than this is not prose (a dump, a binary blob that decoded): rejected.
    max_paragraph_chars: int = 20_000
    # A "sentence" longer than this means splitting failed (no punctuation): its paragraph is rejected.
    max_sentence_tokens: int = 1000
    # Work is spread across cores in chunks of about this many characters.
    chunk_chars: int = 50_000


def book_id(path: str) -> str:
    name = input_name(path)
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def list_novels(pattern: str) -> list[str]:
    """Input files of a path, directory or glob, on disk or on a store, sorted; book ids must be unique."""
    files = folder_inputs(pattern)
    files = sorted(f for f in (glob_inputs(pattern) if files is None else files) if f.endswith(SUFFIXES))
    if not files:
        raise FileNotFoundError(f"no .txt or .txt.gz files match --input {pattern!r}")
    seen: dict[str, str] = {}
    for file in files:
        other = seen.setdefault(book_id(file), file)
        if other != file:
            raise ValueError(f"two inputs give book id {book_id(file)!r}: {other} and {file}; rename one.")
    return files


def read_book(task: ShardTask, params: NovelParams) -> Iterator[Chunk]:
    """Decode and clean one book into chunks of paragraphs; an unusable file is one reject."""
    try:
        decoded = read_text(task.source)
        stripped = strip_gutenberg(decoded.text)
        if not stripped.strip():
            raise UnreadableTextError("no text after the Gutenberg header")
        body = chapter_paragraphs(stripped)
        if not body.paragraphs:
            raise UnreadableTextError("no prose left after removing Gutenberg boilerplate and front matter")
    except (UnreadableTextError, OSError) as error:
        reason = str(error) if isinstance(error, UnreadableTextError) else f"unreadable file: {error}"
        yield Chunk(
            task,
            0,
            rejects=[reject_row(STAGE, task.source, "", reason)],
            stats=Counter(records_in=1, records_rejected=1, files_rejected=1),
        )
        return
    info = {
        "book_id": book_id(task.source),
        "encoding": decoded.encoding,
        "chapters": len({p.chapter for p in body.paragraphs}),
        "paragraphs_cleaned_away": body.dropped,
    }
    number, items, size = 0, [], 0
    for paragraph in body.paragraphs:
        items.append(paragraph)
        size += len(paragraph.text)
        if size >= params.chunk_chars:
            yield Chunk(task, number, items=items, info=info)
            number, items, size = number + 1, [], 0
    if items or number == 0:
        yield Chunk(task, number, items=items, info=info)


def tokenize_paragraphs(chunk: Chunk, params: NovelParams) -> Chunk:
    """Split each paragraph into tokenised sentences; paragraphs that are not prose become rejects."""
    tokenized, rejects = [], list(chunk.rejects)
    stats = Counter(chunk.stats)
    for paragraph in chunk.items:
        stats["records_in"] += 1
        location = f"chapter {paragraph.chapter}, paragraph {paragraph.number}"
        reason = None
        sentences = []
        if len(paragraph.text) > params.max_paragraph_chars:
            limit = params.max_paragraph_chars
            reason = f"paragraph of {len(paragraph.text)} characters exceeds max_paragraph_chars={limit}"
        else:
            for text in split_sentences(paragraph.text):
                tokens = tokenize(text)
                if len(tokens) > params.max_sentence_tokens:
                    reason = (
                        f"a sentence of {len(tokens)} tokens exceeds max_sentence_tokens={params.max_sentence_tokens}"
                    )
                    break
                if tokens:
                    sentences.append((text, tokens))
        if reason:
            rejects.append(reject_row(STAGE, chunk.task.source, location, reason, paragraph.text))
            stats["records_rejected"] += 1
        else:
            tokenized.append((paragraph.chapter, sentences))
            stats["records_out"] += 1
    return Chunk(chunk.task, chunk.number, tokenized, rejects, stats, chunk.info)


def assemble_book(
    task: ShardTask, chunks: list[Chunk], params: NovelParams, sentences_folder: Location, passages_folder: Location
) -> dict[Location, pa.Table]:
    """Number the book's sentences in reading order and group them into passages."""
    book = book_id(task.source)
    chapters, texts, tokens = [], [], []
    for chunk in chunks:
        for chapter, sentences in chunk.items:
            for text, sentence_tokens in sentences:
                chapters.append(chapter)
                texts.append(text)
                tokens.append(sentence_tokens)
    lengths = [len(t) for t in tokens]
    sentences = pa.table(
        {
            col.ID: [f"{book}/s{ordinal:06d}" for ordinal in range(len(texts))],
            col.BOOK_ID: [book] * len(texts),
            col.CHAPTER: chapters,
            col.ORDINAL: list(range(len(texts))),
            col.TEXT: texts,
            col.TOKENS: tokens,
            col.N_TOKENS: lengths,
        },
        schema=SENTENCES,
    )
    ranges = group_passages(chapters, lengths, params.passages)
    passages = pa.table(
        {
            col.ID: [f"{book}/p{number:05d}" for number in range(len(ranges))],
            col.BOOK_ID: [book] * len(ranges),
            col.CHAPTER: [chapters[start] for start, _ in ranges],
            col.ORDINAL: [start for start, _ in ranges],
            col.N_SENTENCES: [end - start for start, end in ranges],
            col.TEXT: [" ".join(texts[start:end]) for start, end in ranges],
            col.TOKENS: [[t for sentence in tokens[start:end] for t in sentence] for start, end in ranges],
            col.N_TOKENS: [sum(lengths[start:end]) for start, end in ranges],
        },
        schema=PASSAGES,
    )
    return {sentences_folder: sentences, passages_folder: passages}


def output_folders(workspace: Location, name: str) -> dict[str, Location]:
    return {
        "sentences": Workspace(workspace).corpus_part(name, "sentences"),
        "passages": Workspace(workspace).corpus_part(name, "passages"),
        "rejects": Workspace(workspace).rejects(STAGE, name),
    }


def run(
    input_pattern: str,
    name: str,
    workspace: Location,
    params: NovelParams = NovelParams(),
    beam_args: list[str] | None = None,
) -> StageReport:
    """Process every novel matching `input_pattern` into `corpora/<name>/{sentences,passages}`."""
    outputs = output_folders(location(workspace), name)
    sources = list_novels(input_pattern)

    def assemble(task: ShardTask, chunks: list[Chunk]) -> dict[Location, pa.Table]:
        return assemble_book(task, chunks, params, outputs["sentences"], outputs["passages"])

    build = sharded_build(
        read=partial(read_book, params=params),
        process=partial(tokenize_paragraphs, params=params),
        write=WriteShard(assemble, outputs["rejects"], [outputs["sentences"], outputs["passages"]]),
    )
    return run_sharded_stage(STAGE, sources, asdict(params), outputs, build, beam_args or [])
