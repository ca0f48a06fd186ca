"""The one place the files of the original release are read, for the converters in model/skipthought,
model/vse and model/decoder: Python 2 pickles (options, dictionaries, the skip-thought tables) and npz
weight archives.

A downloaded pickle is untrusted input: plain `pickle.load` calls whatever a pickle names, so a crafted
file runs `os.system` before any check. These files are read by an unpickler that builds only what the
release holds (dicts, OrderedDicts, strings, bytes, numbers, numpy arrays and dtypes) and checks each
array before numpy fills it. Every way a file can be broken, truncated or crafted, becomes one
OriginalFileError that names the file; the CLI prints it as a one-line error.
"""

import collections
import math
import pickle
import reprlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, ClassVar

import numpy as np
from numpy.lib import format as npy_format


class OriginalFileError(ValueError):
    """A released file is missing, truncated or not what its name says."""


class _Refused(Exception):
    """Content no release file holds, found while unpickling; the reader adds the file's name."""


_NDARRAY = object()  # numpy.ndarray as unpickled: only ever an argument of _reconstruct, never called


class _PickledDtype:
    """numpy.dtype as unpickled. numpy applies a pickled dtype state, flags included, without checks, so a
    crafted state could make an object dtype read pointers from the file's bytes; here the type string
    alone makes the dtype and only the byte order comes from the state."""

    def __init__(self, descr: object, align: object = False, copy: object = False):
        # align and copy change nothing for the plain types allowed here; pickles pass them positionally.
        if isinstance(descr, bytes):
            descr = descr.decode("ascii")
        dtype = np.dtype(descr) if isinstance(descr, str) else None
        if dtype is None or dtype.kind not in "biufcSUO" or dtype.fields is not None or dtype.subdtype is not None:
            shown = repr(descr[:40]) if isinstance(descr, str) else f"a {type(descr).__name__}"
            raise _Refused(f"it holds arrays of type {shown}, which no release file does")
        self.dtype = dtype

    def __setstate__(self, state: object) -> None:
        order = state[1] if isinstance(state, tuple) and len(state) == 8 else None
        order = order.decode("ascii") if isinstance(order, bytes) else order
        if order not in ("<", ">", "|", "=") or any(part is not None for part in state[2:5]):
            raise _Refused("it holds a structured or malformed numpy dtype, which no release file does")
        if order in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(order)


class _PickledArray(np.ndarray):
    """numpy.ndarray as unpickled: the state is checked before numpy applies it, so the data fills the
    shape exactly and no pickle makes numpy allocate more memory than the file itself holds."""

    def __setstate__(self, state: object) -> None:
        if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], _PickledDtype)):
            raise _Refused("it holds a malformed numpy array")
        version, shape, dtype, fortran, data = state
        if not (isinstance(shape, tuple) and len(shape) <= 32
                and all(type(n) is int and 0 <= n < 2**63 for n in shape)):
            raise _Refused("it holds a numpy array of a malformed shape")
        size, dtype = math.prod(shape), dtype.dtype
        if dtype.hasobject:
            fits = isinstance(data, list) and len(data) == size
        else:
            fits = isinstance(data, bytes) and len(data) == size * dtype.itemsize
        if not fits:
            raise _Refused(f"a numpy array's data does not fill its shape {shape} of {dtype}")
        super().__setstate__((version, shape, dtype, bool(fortran), data))


def _reconstruct(subtype: object, shape: object, typecode: object) -> _PickledArray:
    """numpy's `_reconstruct`, limited to the one call `ndarray.__reduce__` makes: an empty array that
    the pickle's BUILD then fills through `_PickledArray.__setstate__`."""
    if subtype is not _NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
        raise _Refused("it rebuilds a numpy array in a way numpy itself never pickles")
    return _PickledArray((0,), "b")


def _scalar(dtype: object, data: object) -> np.generic:
    """numpy's `scalar`, for numbers and strings only: an object scalar would be any pickled object."""
    if not (isinstance(dtype, _PickledDtype) and not dtype.dtype.hasobject and isinstance(data, bytes)
            and len(data) == dtype.dtype.itemsize > 0):
        raise _Refused("it holds a malformed numpy scalar")
    return np.frombuffer(data, dtype.dtype)[0]


def _check_keys(keys: list) -> None:
    # A tuple key could share one tuple many times over: its hash would take exponential time.
    if not all(isinstance(key, str | bytes | int | float | None) for key in keys):
        raise _Refused("it holds a dict whose keys are not strings or numbers, which no release file does")


def _ordered_dict(items: object = ()) -> collections.OrderedDict:
    """collections.OrderedDict from the [key, value] pairs Python 2 pickles it with, keys checked."""
    if not (isinstance(items, list | tuple) and all(isinstance(p, list | tuple) and len(p) == 2 for p in items)):
        raise _Refused("it holds a malformed OrderedDict")
    _check_keys([key for key, _ in items])
    return collections.OrderedDict(items)


_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")  # numpy 1 (the release's) and numpy 2
_GLOBALS = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _PickledDtype,
    **{(module, "_reconstruct"): _reconstruct for module in _MULTIARRAY},
    **{(module, "scalar"): _scalar for module in _MULTIARRAY},
}


def _finished(value: object) -> object:
    """Real numpy objects for the stand-ins that unpickling builds."""
    if isinstance(value, _PickledDtype):
        return value.dtype
    return value.view(np.ndarray) if isinstance(value, _PickledArray) else value


# Protocol 4 and 5 opcodes no Python 2 file holds: sets (their items are hashed, see _check_keys) and buffers
# (BYTEARRAY8 allocates and zeroes any length it is given before it reads a byte).
_NEVER_IN_RELEASE = {op[0] for op in (pickle.EMPTY_SET, pickle.ADDITEMS, pickle.FROZENSET, pickle.BYTEARRAY8,
                                      pickle.NEXT_BUFFER, pickle.READONLY_BUFFER)}


class _ReleaseUnpickler(pickle._Unpickler):
    """An unpickler that builds only what release files hold. It is the pure-Python unpickler, not the C
    one: the C unpickler sizes its memo by the largest index a pickle names, so five crafted bytes make it
    fill gigabytes. Python 2 strings load as bytes."""

    dispatch: ClassVar[dict] = {code: load for code, load in pickle._Unpickler.dispatch.items()
                                if code not in _NEVER_IN_RELEASE}

    def __init__(self, handle: BinaryIO):
        super().__init__(handle, encoding="bytes")

    # Keys are checked before they are hashed; after a MARK, `self.stack` holds just the marked items.
    def load_dict(self) -> None:
        _check_keys(self.stack[::2])
        super().load_dict()

    def load_setitems(self) -> None:
        _check_keys(self.stack[::2])
        super().load_setitems()

    def load_setitem(self) -> None:
        _check_keys(self.stack[-2:-1])
        super().load_setitem()

    dispatch[pickle.DICT[0]] = load_dict
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.SETITEM[0]] = load_setitem

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _GLOBALS:
            raise _Refused(f"it asks for {module}.{name}, which no release file holds, and a pickle runs the "
                           f"code it names, so it was refused before anything ran")
        return _GLOBALS[module, name]

    def load(self) -> object:
        return _finished(super().load())


def _brief(error: Exception) -> str:
    text = f"{type(error).__name__}: {error}"  # not repr: a UnicodeDecodeError's holds the whole string
    return text if len(text) <= 200 else f"{text[:200]}..."


@contextmanager
def _reading(path: Path, what: str) -> Iterator[None]:
    """Every failure of reading `path` as one OriginalFileError naming it. Exception is caught on purpose:
    a crafted file makes the readers raise almost anything (MemoryError from an absurd length, RecursionError,
    TypeError, IndexError), and each means the same thing: this is not the release's file."""
    try:
        yield
    except OriginalFileError:
        raise
    except FileNotFoundError:
        raise OriginalFileError(f"{path} is missing") from None
    except _Refused as error:
        raise OriginalFileError(f"{path} is not a file of the release: {error}") from None
    except Exception as error:
        raise OriginalFileError(f"{path} is truncated or not {what} ({_brief(error)}); download it again") from error


def read_py2_pickles(path: Path, count: int) -> list[object]:
    """Up to `count` pickles stored back to back in `path` (the decoder's dictionary holds two), with
    Python 2 strings as bytes; the file may end after any whole pickle but the first."""
    with _reading(path, "a pickle"), open(path, "rb") as handle:
        found = [_ReleaseUnpickler(handle).load()]
        while len(found) < count and handle.peek(1):
            found.append(_ReleaseUnpickler(handle).load())
        return found


def _decode(value: object, done: dict[int, object]) -> object:
    """`value` with byte strings as text, in itself and in dicts; `done` holds the dicts decoded so far,
    since a pickle can share one dict many times over and decoding each path would take exponential time."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        if id(value) not in done:
            done[id(value)] = {_decode(k, done): _decode(v, done) for k, v in value.items()}
        return done[id(value)]
    return _finished(value)


def read_py2_pickle(path: Path) -> object:
    """A Python 2 pickle (protocol 0 or 2) whose byte strings, dict keys and values included, are UTF-8 text."""
    found = read_py2_pickles(path, 1)[0]
    with _reading(path, "a pickle of UTF-8 text"):
        return _decode(found, {})


class _Summary(reprlib.Repr):
    """A bounded repr, for options that are not plain values: a pickle can share one list many times over,
    and the full repr of a few such bytes would fill the memory."""

    def repr_instance(self, x: object, level: int) -> str:
        if isinstance(x, bytes):
            return repr(x[: self.maxstring])
        if x is None or isinstance(x, int | float | complex | np.generic):
            return super().repr_instance(x, level)
        return f"<{type(x).__name__}>"


def _plain(value: object) -> object:
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    return value if isinstance(value, str | int | float | bool | None) else _Summary().repr(value)


def read_options(path: Path, required: tuple[str, ...], what: str) -> dict:
    """An options pickle (`<model>.npz.pkl`) holding at least `required`. Values other than text, numbers,
    booleans and None become their repr, so the options can go into a config.json as provenance."""
    options = read_py2_pickle(path)
    missing = [key for key in required if not isinstance(options, dict) or key not in options]
    if missing:
        raise OriginalFileError(f"{path} lacks option(s) {missing}: is it {what}?")
    with _reading(path, "an options pickle"):  # the repr of a crafted value can nest too deep
        return {str(key): _plain(value) for key, value in options.items()}


def int_option(path: Path, options: dict, key: str, default: int | None = None) -> int:
    """Option `key` (`default` when absent) as a positive whole number; anything else names file and option."""
    value = options.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise OriginalFileError(f"{path}: option {key!r} is {value!r}, expected a positive whole number")
    return value


def _npy_header(handle: BinaryIO) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from the header of a .npy stream, leaving `handle` at the start of the data."""
    version = npy_format.read_magic(handle)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f".npy format version {version} is not one the release uses")
    read = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    shape, _, dtype = read(handle)
    return shape, dtype


def read_table(path: Path) -> np.ndarray:
    """A skip-thought word table (.npy). The release's are pickled object arrays of row vectors, read by
    the restricted unpickler; a plain numeric table is memory-mapped instead."""
    with _reading(path, "a .npy table"):
        with open(path, "rb") as handle:
            shape, dtype = _npy_header(handle)
            if dtype.hasobject:
                table = _ReleaseUnpickler(handle).load()
                if not isinstance(table, np.ndarray) or table.dtype != dtype or table.shape != shape:
                    raise ValueError(f"the pickle does not hold the {dtype} array of shape {shape} the header says")
                return table
        return np.load(path, mmap_mode="r", allow_pickle=False)


def read_arrays(npz_path: Path, expected: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Named float32 arrays of an npz, each header checked against `expected` (shape and numeric type)
    before its data is read; other keys are ignored. Broken files say to download them again."""
    with _reading(npz_path, "an npz archive"), np.load(npz_path) as archive:
        arrays = {}
        for name, shape in expected.items():
            member = f"{name}.npy"
            if member not in archive.zip.namelist():
                raise OriginalFileError(f"{npz_path} has no array {name!r} (found {sorted(archive.files)[:12]})")
            with archive.zip.open(member) as handle:
                found, dtype = _npy_header(handle)
            if dtype.kind not in "biuf":
                raise OriginalFileError(f"{npz_path}: {name} holds {dtype} values, expected numbers")
            if found != shape:
                raise OriginalFileError(f"{npz_path}: {name} has shape {found}, expected {shape} from the options")
            if math.prod(shape) * dtype.itemsize > archive.zip.getinfo(member).file_size:
                raise ValueError(f"{member} is shorter than its shape {shape}")
            arrays[name] = np.asarray(archive[name], dtype=np.float32)
        return arrays
