"""Checks schema validation of Parquet readers and atomic shard writing (data_schemas, data_schemas.shards)."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_schemas import SENTENCES, VOCAB, SchemaMismatchError, check_schema, read_table
from data_schemas.shards import finished_shards, read_artifact, shard_name, shard_paths, write_table_atomic


def _vocab(**overrides) -> pa.Table:
    columns = {"word": pa.array(["<eos>", "UNK", "the"]), "count": pa.array([0, 0, 9], pa.int64())}
    columns["index"] = pa.array([0, 1, 2], pa.int32())
    columns.update(overrides)
    return pa.table({name: col for name, col in columns.items() if col is not None})


def test_matching_schema_passes():
    check_schema(_vocab().schema, VOCAB, "vocab")


def test_missing_column_is_named():
    with pytest.raises(SchemaMismatchError, match=r"vocab: column 'count' is missing \(expected int64\)"):
        check_schema(_vocab(count=None).schema, VOCAB, "vocab")


def test_wrong_type_is_named():
    with pytest.raises(SchemaMismatchError, match="column 'index' has type int64, expected int32"):
        check_schema(_vocab(index=pa.array([0, 1, 2], pa.int64())).schema, VOCAB, "vocab")


def test_extra_column_is_named():
    with pytest.raises(SchemaMismatchError, match=r"unexpected column\(s\) \['extra'\]"):
        check_schema(_vocab(extra=pa.array([1, 2, 3])).schema, VOCAB, "vocab")


def test_read_table_checks_the_file(tmp_path):
    path = tmp_path / "vocab.parquet"
    pq.write_table(_vocab(), path)
    assert read_table(path, VOCAB).column("word").to_pylist() == ["<eos>", "UNK", "the"]
    with pytest.raises(SchemaMismatchError, match="column 'id' is missing"):
        read_table(path, SENTENCES)


def test_write_table_atomic_and_shard_listing(tmp_path):
    folder = tmp_path / "vocab"
    write_table_atomic(_vocab(), folder / shard_name(1, 3), metadata={"stage": "vocab"})
    assert [p.name for p in folder.iterdir()] == ["part-00001-of-00003.parquet"]
    assert shard_paths(folder) == [folder / "part-00001-of-00003.parquet"]
    assert finished_shards(folder, 3) == {1}
    assert finished_shards(folder, 4) == set()
    assert pq.read_schema(folder / shard_name(1, 3)).metadata[b"stage"] == b"vocab"
    assert read_artifact(folder, VOCAB).num_rows == 3


def test_read_artifact_rejects_wrong_schema(tmp_path):
    write_table_atomic(_vocab(extra=pa.array([1, 2, 3])), tmp_path / shard_name(0, 1))
    with pytest.raises(SchemaMismatchError, match="extra"):
        read_artifact(tmp_path, VOCAB)


def test_read_artifact_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no part-"):
        read_artifact(tmp_path, VOCAB)
    assert shard_paths(tmp_path / "missing") == []
