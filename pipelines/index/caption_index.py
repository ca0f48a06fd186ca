"""A built caption index, loaded for queries: the memory-mapped FAISS index, its id map, and the
way from a FAISS id back to the caption's text and to its vectors under any text model.

An index on an object store is read from a local copy of each of its two files, made once per version
(`data_schemas.storage.local_copy`: the key is the URL and the object's ETag), since FAISS maps local
files only; a rebuilt index has new ETags and is fetched again. The copies are per file, not of the whole
folder, so the skip-thought matrices that `caption_vectors` adds beside an index neither travel with it
nor make its copy stale.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_schemas import index as ix
from data_schemas import read_table
from data_schemas.storage import Location, is_remote, local_copy, location, read_parquet
from data_schemas.vectors import ID, VECTOR, vector_matrix
from data_schemas.workspace import Workspace, check_name
from pipelines.core.manifest import read_meta
from pipelines.index.build import ID_MAP_FILE, INDEX_FILE
from pipelines.index.faiss_index import read_index


def find_index(workspace: str | Location, name: str | Location) -> Location:
    """An index given as its folder (a path, or a URL on an object store), or by name under
    `<workspace>/index/<vse>/` (a workspace on disk or on a store)."""
    given = location(name)
    if (given / INDEX_FILE).is_file():
        return given
    if is_remote(given):
        raise FileNotFoundError(f"--index {name}: no {INDEX_FILE} there: give an index folder made by "
                                "`storyteller index`, or an index name with --workspace")
    root = Workspace(workspace).index_root()
    found = sorted(p.parent for p in root.glob(f"*/{check_name('index', str(name))}/{INDEX_FILE}"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(f"no index {name!r} under {root}: run `storyteller index` first")
    raise ValueError(f"index name {name!r} exists for several VSE models ({[p.parent.name for p in found]}): "
                     "pass the index folder instead")


class CaptionIndex:
    """Search by joint-space vectors; FAISS ids are rows of the id map."""

    def __init__(self, folder: str | Location):
        self.folder = location(folder)
        self.meta = read_meta(self.folder)
        kind, nprobe = self.meta["index"]["kind"], self.meta["index"]["nprobe"]
        self.index = read_index(local_copy(self.folder / INDEX_FILE), kind, nprobe)
        self.id_map = read_table(local_copy(self.folder / ID_MAP_FILE), ix.INDEX_CAPTIONS)
        if not self.index.ntotal == self.id_map.num_rows == self.meta["captions"]:
            raise ValueError(f"{self.folder}: its index ({self.index.ntotal:,} vectors), id map "
                             f"({self.id_map.num_rows:,} rows) and _meta.json ({self.meta['captions']:,} captions) "
                             "disagree (rebuilt while it was read?): load it again, or rebuild it with "
                             "`storyteller index`")

    @property
    def vse(self) -> str:
        return self.meta["vse"]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, FAISS ids), each (Q, k), best first; k is capped at the number of captions."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.index.d:
            raise ValueError(f"queries have shape {queries.shape}; the index holds {self.index.d}-d vectors")
        return self.index.search(queries, min(k, self.index.ntotal))

    def captions(self, ids: np.ndarray) -> pa.Table:
        return self.id_map.take(pa.array(np.asarray(ids, dtype=np.int64).reshape(-1)))

    def caption_vectors(self, workspace: str | Location, model: str, ids: np.ndarray) -> np.ndarray:
        """The captions' vectors under a text model (e.g. a skip-thought encoder) from its vector
        shards `vectors/<model>/<corpus>/captions/<shard>`; each shard is read once, ids checked."""
        wanted = self.captions(ids)
        out: np.ndarray | None = None
        groups = wanted.group_by([ix.CORPUS, ix.SHARD]).aggregate([]).to_pylist()
        for group in groups:
            corpus, shard = group[ix.CORPUS], group[ix.SHARD]
            path = Workspace(workspace).vectors(model, corpus, "captions") / shard
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: run `storyteller encode --encoder {model} "
                                        f"--corpus {corpus} --kind captions`")
            selected = np.flatnonzero(pc.and_(pc.equal(wanted.column(ix.CORPUS), corpus),
                                              pc.equal(wanted.column(ix.SHARD), shard)).to_numpy(zero_copy_only=False))
            rows = wanted.column(ix.ROW).to_numpy()[selected]
            table = read_parquet(path, columns=[ID, VECTOR]).take(pa.array(rows))
            expected = wanted.column(ix.CAPTION_ID).take(pa.array(selected))
            if not table.column(ID).equals(expected):
                raise ValueError(f"{path} does not line up with the index's id map: re-encode {corpus} with {model}")
            vectors = vector_matrix(table)
            if out is None:
                out = np.zeros((wanted.num_rows, vectors.shape[1]), dtype=np.float32)
            out[selected] = vectors
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

