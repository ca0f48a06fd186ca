"""The Beam encode job: vectors equal the Python API's, order and ids kept, rejects counted,
padding small, reruns skipped, and the plain-text mode."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from data_schemas import CAPTIONS, REJECTS
from data_schemas.shards import read_artifact
from data_schemas.vectors import vector_matrix, vectors_schema
from model.skipthought.api import TextEncoder
from pipelines import encode
from pipelines.core.manifest import StageStart
from pipelines.corpus import captions
from tests.conftest import IN_PROCESS, SHARED_DATA
from tests.tiny_models import random_encoder


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("ws")
    captions.run(str(SHARED_DATA / "images" / "flickr8k_1000" / "captions.txt"), "f1000", workspace,
                 captions.CaptionParams("csv"), IN_PROCESS)
    table = read_artifact(workspace / "corpora" / "f1000" / "captions", CAPTIONS)
    words = ["<eos>", "UNK", *sorted({t for tokens in table.column("tokens").to_pylist() for t in tokens})[:500]]
    model = random_encoder(tmp_path_factory.mktemp("model") / "tiny-combine", words)
    report = encode.run(encode.EncodeParams(str(model)), "f1000", "captions", workspace)  # 2 worker processes
    return workspace, model, table, report


def test_vectors_equal_the_python_api_in_corpus_order(setup):
    workspace, model, table, report = setup
    folder = workspace / "vectors" / "tiny-combine" / "f1000" / "captions"
    vectors = read_artifact(folder, vectors_schema(48))
    assert vectors.column("id").to_pylist() == table.column("id").to_pylist()
    assert vectors.column("n_tokens").to_pylist() == table.column("n_tokens").to_pylist()
    expected = TextEncoder(model).encode_tokens(table.column("tokens").to_pylist())
    np.testing.assert_allclose(vector_matrix(vectors), expected, atol=1e-5)
    stats = report.stats
    assert stats["records_in"] == stats["records_out"] == 5_000 and report.rows["rejects"] == 0
    assert 1 - stats["tokens_real"] / stats["tokens_padded"] < 0.10


def test_rerun_skips_and_new_weights_rebuild(setup):
    workspace, model, _, _ = setup
    again = encode.run(encode.EncodeParams(str(model)), "f1000", "captions", workspace, IN_PROCESS)
    assert again.start is StageStart.DONE and again.shards_run == 0
    words = (model / "vocab.txt").read_text().split("\n")[:-1]
    random_encoder(model, words, seed=1)
    retrained = encode.run(encode.EncodeParams(str(model)), "f1000", "captions", workspace, IN_PROCESS)
    assert retrained.start is StageStart.FRESH and retrained.shards_run == 1


def test_text_file_mode_rejects_empty_lines(setup, tmp_path):
    _, model, _, _ = setup
    (tmp_path / "texts.txt").write_text("A dog runs .\n\n  \nTwo cats sleep on a mat .\n")
    report = encode.run_texts(encode.EncodeParams(str(model), dtype="float16"), tmp_path / "texts.txt",
                              tmp_path / "out" / "texts.parquet", IN_PROCESS)
    assert (report.stats["records_in"], report.stats["records_out"], report.stats["records_rejected"]) == (4, 2, 2)
    table = pq.read_table(tmp_path / "out" / "texts.parquet")
    assert table.schema.equals(vectors_schema(48, "float16"))
    assert table.column("id").to_pylist() == ["1", "4"]
    expected = TextEncoder(model).encode(["A dog runs .", "Two cats sleep on a mat ."])
    np.testing.assert_allclose(vector_matrix(table), expected, atol=2e-3)
    rejects = pq.read_table(tmp_path / "out" / "texts.rejects.parquet", schema=REJECTS).to_pylist()
    assert [r["location"] for r in rejects] == ["line 2", "line 3"]
    assert not list((tmp_path / "out").glob(".*"))
