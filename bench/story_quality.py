"""Benchmark: what a reader sees in the stories of today's (baseline) and the new models, side by side
(issue 12), against real novel passages and word salad in the same run.

Over the first --photos Flickr8k photos of ../shared/data/images/flickr8k_1000 (5 captions each), the caption
index is built from the Flickr8k captions less every caption of those photos, so retrieval cannot copy a
photo's own captions. Each model set (a folder holding skipthought-uni-novels, vse-flickr8k-1000 and a
decoder) runs the demo's end-to-end flow (flows/prefect/pipeline.py) on that caption file, once per book
style: corpora, skip-thought vectors, styles (passages of more than 100 tokens, as the demo), the index,
and stories for the 5 example photos. The flow's features of all the photos (computed once per CNN) then
go through the stories job's own `Storyteller` for every search mode and style, and the flow's stories of
the example photos are checked against the bench's.

Search modes: beam = the normalized beam search at its default width 5 (the demo uses 50: ten times the
decoding for little gain), sample = nucleus sampling with its defaults, both with the story job's default topic
words (pipelines/stories/topics.py); beam-plain and sample-plain without topic words, as the models were told
before. Figures (pipelines/stories/quality.py): distinct, loops (repeated trigrams), relevance to the photo's
own captions and to a shuffled pairing, word-order ratio under an add-one bigram model of two books the new
decoder never learnt from (HELD_OUT; real paragraphs of the other novels are the reference row), mean words,
voice (mean log P_adventure(w) / P_romance(w) of a story's words) and the seconds telling took (features
excluded).

Why model folders are copied into WS/models under `NAME.DIGEST`: the workspace keys vectors, styles and
indexes by model folder name, and two releases ship folders of the same names; a symlink would not do,
since the encode stage names vectors by the resolved folder and the story job by the given one.
"""

import argparse
import csv
import gzip
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_schemas import CAPTIONS as CAPTIONS_SCHEMA
from data_schemas import PASSAGES
from data_schemas import text as col
from data_schemas.features import IMAGE_ID, features_schema
from data_schemas.shards import read_artifact
from data_schemas.vectors import VECTOR
from data_schemas.workspace import Workspace
from flows.cli.flow import prefect_defaults
from flows.cli.report import table
from model.cnn.registry import image_model_spec
from model.decoder.beam_search import SearchOptions
from model.decoder.files import DECODER
from model.families import model_family
from model.vse.files import RETRIEVAL_MODES, read_vse_config
from pipelines.features import list_images
from pipelines.index.build import duplicate_key
from pipelines.index.retrieve import choose_cnn
from pipelines.stories import quality as q
from pipelines.stories.batch import StoryParams, Storyteller
from pipelines.stories.job import JSONL_FILE, JobParams
from pipelines.stories.topics import TopicParams

REPO = Path(__file__).resolve().parents[1]
ENCODER, VSE, ZERO_SHOT = "skipthought-uni-novels", "vse-flickr8k-1000", "zero-shot-efficientnet-lite0"
DECODER_NAMES = ("decoder-romance", "decoder-novels")  # the names releases gave their decoder, preferred in order
STYLES = ("romance", "adventure")  # book styles: the novels of data/novels/<style>
HELD_OUT = ("austen_emma_nltk", "radcliffe_a_sicilian_romance")  # decoder-novels' held-out books: the bigram model
CAPTIONS, DATASET, K = "flickr8k-untold", "quality-photos", 100  # k: the demo's
# The demo's other caption sets, read by the corpus stage and written back less the told photos' captions.
OTHER_CAPTION_SETS = (("coco", "coco2017/captions_val2017.json.gz", "coco"),
                      ("multi30k", "multi30k/task2/raw/*.en.gz", "multi30k"))
SEARCHES = {"beam": (SearchOptions(), TopicParams()), "sample": (SearchOptions.for_mode("sample"), TopicParams()),
            "beam-plain": (SearchOptions(), TopicParams(0.0)),
            "sample-plain": (SearchOptions.for_mode("sample"), TopicParams(0.0))}
EXAMPLES, SEED = 5, 12
TARGETS = ["target", "", "", ">=0.98", "<=0.03", ">=1.0", "", ">=3", ">=2.5", "", "", ""]
HEADERS = ["models", "search", "style", "distinct", "loops", "rel own", "rel shuf", "rel ratio", "order", "words",
           "voice", "seconds"]


@dataclass(frozen=True)
class ModelSet:
    label: str
    encoder: Path
    vse: Path
    decoder: Path
    cnn: str
    zero_shot: Path | None = None  # fused with the VSE at the flow's fusion weight
    caption_sets: str = "flickr8k"  # the index's captions: flickr8k, or all (Flickr8k, COCO, Multi30k)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def find_decoder(folder: Path, name: str | None) -> Path:
    """The decoder NAME, else the only decoder folder in FOLDER, else the first of DECODER_NAMES there."""
    if name:
        if not (folder / name / "config.json").is_file():
            raise FileNotFoundError(f"--decoder {name}: {folder / name} is not a model folder")
        return folder / name
    found = sorted(p.parent for p in folder.glob("*/config.json") if model_family(p.parent) == DECODER)
    preferred = [p for n in DECODER_NAMES for p in found if p.name == n]
    if len(found) == 1 or preferred:
        return preferred[0] if preferred else found[0]
    raise FileNotFoundError(f"{folder} holds decoders {[p.name for p in found]}: choose one with --decoder")


def register(folder: Path, workspace: Path) -> Path:
    """FOLDER copied to WS/models/NAME.DIGEST (digest of its files), once: equal models share an id."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    target = Workspace(workspace).model(f"{folder.name}.{digest.hexdigest()[:8]}")
    if not target.is_dir():
        partial = target.with_name(f"{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(folder, partial)
        partial.rename(target)
    return target


def model_set(label: str, folder: Path, decoder: str | None, workspace: Path, vse: Path | None = None,
              retrieval: str = "vse", caption_sets: str = "flickr8k") -> ModelSet:
    """The models of FOLDER (VSE: `vse` when given); retrieval fused or zero-shot needs FOLDER's zero-shot model."""
    vse = vse or folder / VSE
    needed = [folder / ENCODER, vse] + ([folder / ZERO_SHOT] if retrieval != "vse" else [])
    for path in needed:
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json: a model set holds {ENCODER}, {VSE}, a decoder and, "
                                    f"for --retrieval {retrieval}, {ZERO_SHOT}")
    zero_shot = register(folder / ZERO_SHOT, workspace) if retrieval != "vse" else None
    registered = zero_shot if retrieval == "zero-shot" else register(vse, workspace)
    return ModelSet(label, register(folder / ENCODER, workspace), registered,
                    register(find_decoder(folder, decoder), workspace), choose_cnn(registered, None),
                    zero_shot if retrieval == "fused" else None, caption_sets)


def untold_captions(source: Path, told: set[str], out: Path) -> int:
    """The Flickr8k token file less every caption of the TOLD photos, in the same format; lines kept."""
    with gzip.open(source, "rt", encoding="utf-8") as file:
        lines = file.read().splitlines(keepends=True)
    kept = [line for line in lines if line.partition("#")[0] not in told]
    out.write_text("".join(kept), encoding="utf-8")
    return len(kept)


def run_flow(ms: ModelSet, style: str, data: Path, workspace: Path, work: Path,
             search: tuple[SearchOptions, TopicParams]) -> dict:
    """The demo's end-to-end flow for one model set and book style; the flow's index folder and stories."""
    from flows.prefect.cache import UP_TO_DATE
    from flows.prefect.pipeline import Images, Models, Styles, Telling, pipeline_flow
    from flows.prefect.stage_flows import CorpusSource
    from pipelines.corpus.captions import CaptionParams
    from pipelines.features import FeatureParams

    out = work / "flow-stories" / f"{ms.label}-{style}"
    shutil.rmtree(out, ignore_errors=True)  # told afresh: a rebuilt index keeps its name
    flickr8k = CorpusSource(CAPTIONS, str(work / "Flickr8k.token.txt"), caption_params=CaptionParams("flickr8k"))
    others = [CorpusSource(f"{name}-untold", str(work / f"{name}.untold.csv"), caption_params=CaptionParams("csv"))
              for name, _, _ in OTHER_CAPTION_SETS] if ms.caption_sets == "all" else []
    summaries = pipeline_flow(
        workspace=workspace, novels=[CorpusSource(style, str(data / "novels" / style / "*.txt.gz"))],
        captions=flickr8k, index_captions=[flickr8k, *others],
        photos=Images(str(work / "photos.txt"), DATASET, FeatureParams(ms.cnn), str(work / "examples.txt")),
        telling=Telling(out, StoryParams(style, "captions", k=K, search=search[0], topics=search[1])),
        models=Models(encoder=str(ms.encoder), vse=str(ms.vse), decoder=str(ms.decoder),
                      zero_shot=None if ms.zero_shot is None else str(ms.zero_shot)),
        styles=Styles(book=style, book_min_tokens=100, caption="captions"))
    log(f"[flow {ms.label}/{style}] {len(summaries)} stages, "
        f"{sum(s.action not in UP_TO_DATE for s in summaries)} computed")
    index = next(s for s in summaries if s.stage.startswith("index"))
    told = [json.loads(line) for line in (out / JSONL_FILE).read_text(encoding="utf-8").splitlines()]
    return {"index": index.details["folder"], "stories": {row[IMAGE_ID]: row["story"] for row in told}}


def read_features(workspace: Path, cnn: str, photos: list[str]) -> np.ndarray:
    """The features stage's vectors of the photos, in their order."""
    dim = image_model_spec(cnn).feature_dim
    folder = Workspace(workspace).features(cnn, DATASET)
    rows = read_artifact(folder, features_schema(dim))
    vectors = rows[VECTOR].combine_chunks().flatten().to_numpy().reshape(-1, dim)
    by_id = dict(zip(rows[IMAGE_ID].to_pylist(), vectors, strict=True))
    missing = [Path(p).name for p in photos if Path(p).name not in by_id]
    if missing:
        raise ValueError(f"{folder} has no features of {len(missing)} photos ({missing[:3]}...): unreadable images? "
                         f"see {Workspace(workspace).rejects('features', cnn, DATASET)}")
    return np.stack([by_id[Path(p).name] for p in photos]).astype(np.float32)


def tell(teller: Storyteller, ids: list[str], features: np.ndarray, label: str) -> tuple[list[str], float]:
    """Stories in the job's batches, each image seeded by its id as the job does; the seconds it took."""
    batch, stories, started = JobParams().story_batch, [], time.perf_counter()
    for start in range(0, len(ids), batch):
        told = teller.tell(features[start : start + batch], ids[start : start + batch])
        stories += [row["story"] for row in told]
        log(f"[{label}] {len(stories)}/{len(ids)} photos {time.perf_counter() - started:.0f}s")
    return stories, time.perf_counter() - started


def passages(workspace: Path, corpus: str) -> list[tuple[str, list[str]]]:
    """(book id, tokens) of a corpus's passages; one string object per distinct token to keep memory low."""
    table = read_artifact(Workspace(workspace).corpus_part(corpus, "passages"), PASSAGES, [col.BOOK_ID, col.TOKENS])
    shared: dict[str, str] = {}
    return [(book, [shared.setdefault(t, t) for t in tokens])
            for batch in table.to_batches() for book, tokens in zip(batch.column(0).to_pylist(),
                                                                     batch.column(1).to_pylist(), strict=True)]


def figures(texts: list[str], captions: list[list[str]], lm: q.BigramModel, voice: q.VoiceModel) -> list[str]:
    own = q.mean_relevance(texts, captions)
    other = q.mean_relevance(texts, captions, q.derangement(len(texts), SEED))
    ratio = f"{own / other:.1f}" if other else ("inf" if own else "-")
    loops, order, words, leaning = (np.mean([measure(t) for t in texts]) for measure in (
        q.loop_share, lambda t: q.order_ratio(lm, t, SEED), q.length, voice.score))
    return [f"{q.distinct(texts):.3f}", f"{loops:.3f}", f"{own:.2f}", f"{other:.2f}", ratio, f"{order:.2f}",
            f"{words:.1f}", f"{leaning:+.3f}"]


@dataclass(frozen=True)
class Photos:
    paths: list[str]
    ids: list[str]
    captions: list[list[str]]  # each photo's own
    examples: list[int]  # the photos whose stories are printed


def prepare(data: Path, work: Path, count: int, chosen: list[str] | None = None) -> Photos:
    """The first COUNT photos (of CHOSEN ids when given) with their captions, and the files the flow reads: the
    photo list, the example photos' list and the Flickr8k captions less theirs."""
    paths = list_images(str(data / "images" / "flickr8k_1000" / "images"))
    if chosen is not None:
        wanted = set(chosen)
        paths = [p for p in paths if Path(p).name in wanted]
    paths = paths[:count]
    by_photo = q.photo_captions(data / "images" / "flickr8k_1000" / "captions.txt")
    ids = [Path(p).name for p in paths]
    photos = Photos(paths, ids, [by_photo[i] for i in ids],
                    sorted(random.Random(SEED).sample(range(len(paths)), min(EXAMPLES, len(paths)))))
    work.mkdir(parents=True, exist_ok=True)
    (work / "photos.txt").write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
    (work / "examples.txt").write_text("".join(f"{paths[i]}\n" for i in photos.examples), encoding="utf-8")
    kept = untold_captions(data / "captions" / "flickr8k" / "Flickr8k.token.txt.gz", set(ids),
                           work / "Flickr8k.token.txt")
    log(f"[captions] {kept} Flickr8k captions left for the index, none of the {len(ids)} photos'")
    return photos


def untold_other_sets(data: Path, workspace: Path, photos: Photos) -> None:
    """COCO and Multi30k through the corpus stage, written back as CSV less every caption of a told photo (by
    Flickr photo number: Multi30k holds Flickr8k's photos) and every caption repeating one of theirs."""
    from pipelines.corpus import captions as caption_corpus

    told_keys = {duplicate_key(text) for texts in photos.captions for text in texts}
    told_photos = {q.flickr_photo(image) for image in photos.ids}
    for name, pattern, fmt in OTHER_CAPTION_SETS:
        params = caption_corpus.CaptionParams(fmt)
        caption_corpus.run(str(data / "captions" / pattern), f"{name}-all", workspace, params)
        table = read_artifact(Workspace(workspace).corpus_part(f"{name}-all", "captions"), CAPTIONS_SCHEMA,
                              [col.IMAGE_ID, col.TEXT])
        out, kept = workspace / "quality" / f"{name}.untold.csv", 0
        with out.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["image", "caption"])
            for image, text in zip(table.column(col.IMAGE_ID).to_pylist(), table.column(col.TEXT).to_pylist(),
                                   strict=True):
                if q.flickr_photo(image) not in told_photos and duplicate_key(text) not in told_keys:
                    writer.writerow([image, text])
                    kept += 1
        log(f"[captions] {kept} of {table.num_rows} {name} captions left for the index")


def novel_models(data: Path, workspace: Path) -> tuple[q.BigramModel, q.VoiceModel, list[str]]:
    """The bigram model (add-one, of the HELD_OUT books), the voice model and the texts of the other novels'
    passages, from the corpus stage's passages of both book styles (built here whatever --styles says; the
    flows reuse them)."""
    from flows.prefect.stage_flows import CorpusSource, build_corpus

    for style in STYLES:
        build_corpus(CorpusSource(style, str(data / "novels" / style / "*.txt.gz")), workspace)
    books = {style: passages(workspace, style) for style in STYLES}
    lm = q.BigramModel.fit([t for style in STYLES for book, t in books[style] if book in HELD_OUT],
                           smoothing="add-one")
    voice = q.VoiceModel.fit(*((t for _, tokens in books[s] for t in tokens) for s in ("adventure", "romance")))
    return lm, voice, [" ".join(t) for style in STYLES for book, t in books[style] if book not in HELD_OUT]


def tell_set(ms: ModelSet, photos: Photos, searches: list[str], styles: list[str], data: Path, workspace: Path,
             features: dict[str, np.ndarray]) -> tuple[dict[tuple[str, str], tuple[list[str], float]], list[str]]:
    """(search, style) -> (stories, seconds) of one model set, and whether the flow told the examples alike."""
    from flows.prefect.tasks import StoryModelNames, resolve_story_models

    work = workspace / "quality"
    flows = {style: run_flow(ms, style, data, workspace, work, SEARCHES[searches[0]]) for style in styles}
    models = resolve_story_models(workspace, StoryModelNames(str(ms.decoder), flows[styles[0]]["index"],
                                                             str(ms.encoder), ms.cnn))
    if ms.cnn not in features:  # one CNN pass per run and CNN, whatever the model sets
        features[ms.cnn] = read_features(workspace, ms.cnn, photos.paths)
    told = {}
    for search in searches:
        for style in styles:
            options, topics = SEARCHES[search]
            teller = Storyteller(models, StoryParams(style, "captions", k=K, search=options, topics=topics))
            told[search, style] = tell(teller, photos.ids, features[ms.cnn], f"{ms.label} {search} {style}")
    checks = []
    for style in styles:
        texts = told[searches[0], style][0]
        same = sum(flows[style]["stories"].get(photos.ids[i]) == texts[i] for i in photos.examples)
        checks.append(f"{ms.label} {searches[0]} {style}: the flow's stories of the {len(photos.examples)} example "
                      f"photos equal the bench's for {same}")
    return told, checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="folder holding data/")
    parser.add_argument("--photos", type=int, default=1000, help="tell the first N Flickr8k photos (2 to 1000)")
    parser.add_argument("--models", type=Path, default=REPO / "trained", help="the new model set")
    parser.add_argument("--baseline-models", type=Path, help="a model set to compare with (e.g. the last release)")
    parser.add_argument("--decoder", help="decoder folder of --models (default: its only decoder, else "
                                          f"{' or '.join(DECODER_NAMES)})")
    parser.add_argument("--baseline-decoder", help="decoder folder of --baseline-models (same default)")
    parser.add_argument("--search", default="beam,sample,sample-plain",
                        help=f"comma-separated modes of {sorted(SEARCHES)}, for the new models")
    parser.add_argument("--baseline-search", default="beam-plain,sample-plain",
                        help="the same for the baseline models (default: as they were told before topic words)")
    parser.add_argument("--styles", default="romance", help=f"comma-separated book styles of {list(STYLES)}")
    parser.add_argument("--retrieval", choices=RETRIEVAL_MODES, default="vse",
                        help=f"how the new set picks captions: its VSE, the VSE fused with its {ZERO_SHOT}, or that "
                             "alone (the baseline always uses its VSE)")
    parser.add_argument("--vse", type=Path, help=f"the new set's VSE folder (default: --models' {VSE})")
    parser.add_argument("--caption-sets", choices=("flickr8k", "all"), default="flickr8k",
                        help="the new set's index: the Flickr8k captions, or all (Flickr8k, COCO val2017, Multi30k), "
                             "each less the told photos' (the baseline's: Flickr8k)")
    parser.add_argument("--held-out-photos", action="store_true",
                        help="tell the held-out photos (validation and test) of the new set's VSE instead of the first "
                             "ones: photos no VSE of either set trained on, when both used the same split")
    parser.add_argument("--workspace", type=Path, help="keep artifacts here, reused by the next run (default: a "
                                                       "temporary folder, removed after)")
    args = parser.parse_args()
    searches, styles = args.search.split(","), args.styles.split(",")
    known = set(searches) | set(args.baseline_search.split(",")) <= SEARCHES.keys()
    if not known or not set(styles) <= set(STYLES) or not 2 <= args.photos <= 1000:
        parser.error(f"--search from {sorted(SEARCHES)}, --styles from {list(STYLES)}, --photos from 2 to 1000")
    with tempfile.TemporaryDirectory() as temp:
        run(args, searches, styles, (args.workspace or Path(temp)).resolve())


def run(args: argparse.Namespace, searches: list[str], styles: list[str], workspace: Path) -> None:
    data = args.shared / "data"
    prefect_defaults(workspace)  # Prefect reads its settings when it loads: set them first
    chosen = None
    if args.held_out_photos:
        held = read_vse_config(args.vse or args.models / VSE).provenance.get("metrics", {}).get("held_out")
        if not held:
            raise SystemExit(f"--held-out-photos: {args.vse or args.models / VSE} names no held-out photos")
        chosen = held["validation"] + held["test"]
    photos = prepare(data, workspace / "quality", args.photos, chosen)
    if args.caption_sets == "all":
        untold_other_sets(data, workspace, photos)
    sets = [model_set("baseline", args.baseline_models, args.baseline_decoder, workspace)
            ] if args.baseline_models else []
    sets.append(model_set("new", args.models, args.decoder, workspace, args.vse, args.retrieval, args.caption_sets))
    lm, voice, held_out = novel_models(data, workspace)
    features: dict[str, np.ndarray] = {}
    modes = {"baseline": args.baseline_search.split(","), "new": searches}
    told = {ms.label: tell_set(ms, photos, modes[ms.label], styles, data, workspace, features) for ms in sets}

    rows = [TARGETS]
    for label, (stories, _) in told.items():
        for (search, style), (texts, seconds) in stories.items():
            rows.append([label, search, style, *figures(texts, photos.captions, lm, voice), f"{seconds:.1f}"])
    novel = random.Random(SEED).sample(held_out, min(len(held_out), len(photos.ids)))
    salad = [" ".join(q.shuffled(text.split(), SEED)) for text in novel]
    for name, texts in (("novel paragraphs", novel), ("word salad", salad)):
        rows.append([name, "", "", *figures(texts, photos.captions[: len(texts)], lm, voice), ""])
    new = sets[-1]
    fused = f" + {new.zero_shot.name}" if new.zero_shot else ""
    print(f"retrieval of the new set: {args.retrieval} ({new.vse.name}{fused}), index over {new.caption_sets}; "
          "the baseline's: vse, flickr8k")
    print(f"{len(photos.ids)} photos, told from a caption index without their captions; add-one bigram model of "
          f"{len(lm.vocab)} words over {', '.join(HELD_OUT)}; novel paragraphs from the other novels; "
          "voice = mean log P_adventure(w) / P_romance(w) of a story's words; seconds = telling, features excluded")
    print(table(HEADERS, rows))
    for label, (stories, checks) in told.items():
        print("\n".join(checks))
        for search in modes[label]:
            for style in styles[1:]:
                pairs = zip(stories[search, styles[0]][0], stories[search, style][0], strict=True)
                print(f"{label} {search}: {sum(a != b for a, b in pairs)}/{len(photos.ids)} photos got another "
                      f"story in {style} style than in {styles[0]}")
    for i in photos.examples:
        print(f"\n== {photos.ids[i]}\n" + "\n".join(f"   caption: {c}" for c in photos.captions[i]))
        for label, (stories, _) in told.items():
            for (search, style), (texts, _) in stories.items():
                print(f"   {label} {search} {style}: {texts[i]}")


if __name__ == "__main__":
    from pipelines.core.logs import configure_logging

    configure_logging()
    main()
