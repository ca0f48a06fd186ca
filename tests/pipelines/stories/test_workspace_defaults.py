"""WS/defaults.json: the settings of a story run, recorded (workspace folders relative) and read back;
`storyteller stories` with only images, workspace and out tells stories with them, and says which flags
are missing when the workspace has none."""

import json

import pyarrow.parquet as pq
import pytest
import torch

from data_schemas import CAPTIONS
from data_schemas import stories as st
from data_schemas.shards import read_artifact, shard_paths
from flows.cli.main import main
from model.cnn.registry import DEFAULT_CNN, image_model_spec
from model.decoder.beam_search import SearchOptions
from model.decoder.conditional_gru import DecoderConfig, StoryDecoder
from model.decoder.files import save_decoder
from model.vse.embedding import VisualSemanticEmbedding, VSEConfig
from model.vse.files import save_vse
from pipelines import encode
from pipelines.corpus import captions
from pipelines.index import build as index
from pipelines.stories.batch import StoryParams
from pipelines.stories.workspace_defaults import fill, read_defaults, story_defaults, write_defaults
from pipelines.style import job as style
from tests.conftest import IN_PROCESS, SHARED_DATA
from tests.tiny_models import random_encoder

PHOTOS = SHARED_DATA / "images" / "flickr8k_1000"
STORY = StoryParams("captions", k=5, search=SearchOptions.for_mode("normalized", beam_width=2, max_len=6))


def tiny_workspace(ws):
    """40 captions, a random VSE and its caption index, a random encoder, the caption style, a random decoder."""
    (ws.parent / "caps.csv").write_text("\n".join((PHOTOS / "captions.txt").read_text().splitlines()[:41]) + "\n")
    captions.run(str(ws.parent / "caps.csv"), "caps", ws, captions.CaptionParams("csv"), IN_PROCESS)
    tokens = read_artifact(ws / "corpora" / "caps" / "captions", CAPTIONS).column("tokens").to_pylist()
    words = ["<eos>", "UNK", *sorted({t for row in tokens for t in row})]
    torch.manual_seed(0)
    save_vse(ws / "models" / "vse", VisualSemanticEmbedding(VSEConfig(
        len(words), image_model_spec(DEFAULT_CNN).feature_dim, 8, 16, provenance={"cnn": DEFAULT_CNN})), words)
    index.run("vse", ["caps"], ws, index.IndexParams(exact_max=10_000), name="caps", beam_args=IN_PROCESS)
    encoder = random_encoder(ws / "models" / "st", words, kind="uni")
    encode.run(encode.EncodeParams(str(encoder)), "caps", "captions", ws, IN_PROCESS)
    style.run("captions", ["caps"], "captions", "st", ws, beam_args=IN_PROCESS)
    decoder = StoryDecoder(DecoderConfig(len(words), 8, 16, 24, provenance={"encoder": "st"}))
    save_decoder(ws / "models" / "dec", decoder, words)


def test_settings_round_trip_and_fill_only_what_is_missing(tmp_path):
    ws, outside = tmp_path / "ws", tmp_path / "trained" / "dec"
    settings = story_defaults(ws, {"decoder": outside, "index": ws / "index" / "vse" / "caps"}, STORY)
    assert write_defaults(ws, settings) == ws / "defaults.json"
    recorded = json.loads((ws / "defaults.json").read_text())
    assert recorded["decoder"] == str(outside) and recorded["index"] == "index/vse/caps"
    assert read_defaults(ws)["index"] == str(ws / "index" / "vse" / "caps")
    assert fill({"style": "mine", "k": None}, recorded)["k"] == 5 and "style" not in fill({"style": "x"}, recorded)
    assert "beam_width" not in fill({"search": "sample"}, recorded)  # another mode: none of its settings
    (ws / "defaults.json").write_text('{"decoder": "d", "colour": "red"}')
    with pytest.raises(ValueError, match=r"defaults\.json: .* not colour"):
        read_defaults(ws)


def test_stories_from_workspace_defaults(tmp_path, capsys):
    ws = tmp_path / "ws"
    listing = tmp_path / "photos.txt"
    listing.write_text("".join(f"{p}\n" for p in sorted((PHOTOS / "images").glob("*.jpg"))[:2]))
    out = [str(a) for a in ("stories", "--images", listing, "--workspace", ws, "--out", tmp_path / "told")]
    assert main([*out, "--no-gallery"]) == 1
    error = capsys.readouterr().err
    assert "stories needs --style and --decoder" in error and "make demo" in error
    tiny_workspace(ws)
    write_defaults(ws, story_defaults(ws, {"decoder": ws / "models" / "dec", "index": ws / "index" / "vse" / "caps"},
                                      STORY))
    assert main([*out, "--no-gallery", *IN_PROCESS]) == 0
    said = capsys.readouterr().out
    assert f"stories: from {ws / 'defaults.json'}: " in said
    assert f"--decoder {ws / 'models' / 'dec'}, " in said and "--style captions" in said
    rows = [row for path in shard_paths(tmp_path / "told" / "stories") for row in pq.read_table(path).to_pylist()]
    assert len(rows) == 2
    assert {(r[st.STYLE], r[st.K], r[st.SEARCH], r[st.BEAM_WIDTH]) for r in rows} == {("captions", 5, "normalized", 2)}
