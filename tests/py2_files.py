"""Writers of files in the released models' Python 2 formats, for tests (the real files cannot be
downloaded here): pickles whose strings are py2 `str` (STRING/BINSTRING opcodes, so Python 3 must
load them with encoding='bytes' or 'latin1'), and .npy tables that are pickled object arrays."""

import io
import pickle
import struct

import numpy as np


class Py2Pickler(pickle._Pickler):
    """Pickles `bytes` as Python 2 `str` and numpy globals under their Python 2 module names."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if self.proto == 0:
            self.write(pickle.STRING + repr(obj)[1:].encode("latin1") + b"\n")
        elif len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", "")
        if module.startswith("numpy._core"):
            name = name or obj.__qualname__
            module = module.replace("numpy._core", "numpy.core")
            self.write(pickle.GLOBAL + module.encode() + b"\n" + name.encode() + b"\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)

    dispatch[type] = save_global


def py2_pickle_bytes(obj, protocol: int) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


def write_options(path, options: dict, protocol: int) -> None:
    """A `.npz.pkl` options file: keys and string values as py2 byte strings."""
    encoded = {k.encode(): (v.encode() if isinstance(v, str) else v) for k, v in options.items()}
    path.write_bytes(py2_pickle_bytes(encoded, protocol))


def write_object_table(path, rows: list[np.ndarray]) -> None:
    """A `utable.npy`-style table: an object array of float32 row vectors, pickled py2-style."""
    table = np.empty(len(rows), dtype=object)
    for index, row in enumerate(rows):
        table[index] = row
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": table.shape})
        handle.write(py2_pickle_bytes(table, 2))


def write_worddict(path, worddict: dict[str, int], protocol: int) -> None:
    """A VSE `.npz.dictionary.pkl`: one pickle of word -> index, words as py2 (UTF-8) byte strings."""
    path.write_bytes(py2_pickle_bytes({word.encode("utf-8"): index for word, index in worddict.items()}, protocol))


def write_decoder_dictionary(path, worddict: dict[str, int], wordcount: dict[str, int], protocol: int) -> None:
    """A `romance_dictionary.pkl` as `vocab.save_dictionary` wrote it: two pickles back to back,
    the worddict and then the wordcount, words as py2 (UTF-8) byte strings."""
    path.write_bytes(b"".join(py2_pickle_bytes({word.encode("utf-8"): value for word, value in table.items()},
                                                protocol) for table in (worddict, wordcount)))
