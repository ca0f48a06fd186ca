"""Atomic writes: a temporary per writer, the old file kept on failure, leftovers cleared."""

import pytest

from data_schemas.atomic import TEMP_PREFIX, atomic_path, remove_temporaries, write_text_atomic


def test_two_writers_of_one_target_never_share_a_temporary(tmp_path):
    target = tmp_path / "out" / "stories.jsonl"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second and first.parent == second.parent == target.parent
        assert first.name.startswith(TEMP_PREFIX) and first.name.endswith(target.name)
        first.write_text("first\n")
        second.write_text("second\n")
    assert target.read_text() == "first\n"  # the outer writer renamed last
    assert [path.name for path in target.parent.iterdir()] == [target.name]


def test_a_failing_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "config.json"
    write_text_atomic(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        temp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert [path.name for path in tmp_path.iterdir()] == [target.name]


def test_a_folder_replaces_a_folder(tmp_path):
    target = tmp_path / "stories"
    for content in ("old", "new"):
        with atomic_path(target) as staging:
            staging.mkdir()
            (staging / "part").write_text(content)
    assert [path.name for path in tmp_path.iterdir()] == [target.name]
    assert [path.read_text() for path in target.iterdir()] == ["new"]


def test_remove_temporaries_clears_leftover_files_and_folders(tmp_path):
    (tmp_path / f"{TEMP_PREFIX}1234-part.parquet").write_bytes(b"half")
    (tmp_path / f"{TEMP_PREFIX}5678-model" / "inner").mkdir(parents=True)
    (tmp_path / f"{TEMP_PREFIX}5678-model" / "inner" / "weights.pt").write_bytes(b"half")
    (tmp_path / "part-00000-of-00001.parquet").write_bytes(b"kept")
    remove_temporaries(tmp_path)
    remove_temporaries(tmp_path / "missing")
    assert [path.name for path in tmp_path.iterdir()] == ["part-00000-of-00001.parquet"]
