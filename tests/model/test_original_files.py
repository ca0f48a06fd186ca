"""Reading release files that were crafted or broken: no pickle runs code, and every failure is one
OriginalFileError that names the file."""

import os
import random
import re

import numpy as np
import pytest

from model.decoder.original import read_decoder_dictionary
from model.original_files import OriginalFileError, read_py2_pickle, read_py2_pickles
from model.skipthought.original import convert_skipthoughts, convert_table
from tests.py2_files import py2_pickle_bytes, write_decoder_dictionary, write_object_table, write_options


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "release.pkl"
    refused = re.escape(f"{path} is not a file of the release: it asks for {os.system.__module__}.system")
    path.write_bytes(py2_pickle_bytes({b"dim": RunsCode(marker)}, 2))
    with pytest.raises(OriginalFileError, match=refused):
        read_py2_pickle(path)
    path.write_bytes(py2_pickle_bytes({b"a": 2}, 2) + py2_pickle_bytes(RunsCode(marker), 0))  # worddict, wordcount
    with pytest.raises(OriginalFileError, match=refused):
        read_decoder_dictionary(path)
    write_object_table(path, [np.zeros(4, np.float32), RunsCode(marker)])
    with pytest.raises(OriginalFileError, match=refused):
        convert_table(path, tmp_path / "table.npy", 2, 4)
    assert not marker.exists() and not (tmp_path / "table.npy").exists()


def mutated(rng: random.Random, data: bytes) -> bytes:
    if rng.random() < 0.3:
        return data[: rng.randrange(len(data))]
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data))
        data[at: at + rng.choice((0, 1, 1, 3))] = rng.randbytes(rng.choice((0, 1, 1, 4)))
    return bytes(data)


def test_broken_files_give_one_clear_error(tmp_path):
    options = {b"dim_word": 4, b"dim": 3, b"encoder": b"gru", b"lrate": 0.5, b"reload_": False, b"saveto": None}
    seeds = [(py2_pickle_bytes(options, protocol), read_py2_pickle) for protocol in (0, 2)]
    write_decoder_dictionary(tmp_path / "seed", {"the": 2, "café": 3}, {"the": 9, "café": 1}, 2)
    seeds.append(((tmp_path / "seed").read_bytes(), lambda path: read_py2_pickles(path, 2)))
    write_object_table(tmp_path / "seed", [np.ones(4, np.float32), np.ones((1, 4), np.float32)])
    seeds.append(((tmp_path / "seed").read_bytes(), lambda path: convert_table(path, tmp_path / "out.npy", 2, 4)))
    rng, path = random.Random(11), tmp_path / "file"
    for case in range(3000):
        data, read = rng.choice(seeds)
        path.write_bytes(rng.randbytes(rng.randrange(80)) if case % 3 == 0 else mutated(rng, data))
        try:
            read(path)
        except OriginalFileError as error:
            assert str(path) in str(error)


def test_an_option_of_the_wrong_type_names_file_and_option(tmp_path):
    write_options(tmp_path / "uni_skip.npz.pkl", {"dim_word": "abc", "dim": 5}, protocol=0)
    write_options(tmp_path / "bi_skip.npz.pkl", {"dim_word": 6, "dim": 4}, protocol=2)
    with pytest.raises(OriginalFileError, match=r"uni_skip\.npz\.pkl: option 'dim_word' is 'abc', expected a posi"):
        convert_skipthoughts(tmp_path, tmp_path, tmp_path / "model")
