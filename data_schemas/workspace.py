"""The workspace: one root folder and the path of every artifact in it, named in one place.

Every name a user gives (corpus, dataset, vocabulary, model, style, index, run) becomes one path segment
here and is checked here: a name can never point outside its artifact's folder, so a stage that clears
its output folder before a fresh run can only ever clear that folder.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from data_schemas.storage import Location, is_remote, local_copy, location

# Letters, digits and `_ - . +` (index names join corpora with '+'); never a leading dot, so neither
# `.`, `..` nor a hidden name; no separator of any platform.
_NAME = re.compile(r"[A-Za-z0-9_+\-][A-Za-z0-9_.+\-]*")
MAX_NAME_CHARS = 128
MODEL_CONFIG = "config.json"
# Training state a trained model's folder keeps (model.training.loop.CHECKPOINT): never needed to use the
# model, so a stored model is copied without it.
MODEL_CHECKPOINT = "checkpoint.pt"
# The workspace's top-level folders, one per kind of artifact; story runs go under `stories/` by
# convention (`storyteller stories --out` may name any folder).
CORPORA, VOCAB, VECTORS, FEATURES, MODELS, STYLES, INDEX, REJECTS, STORIES = (
    "corpora", "vocab", "vectors", "features", "models", "styles", "index", "rejects", "stories")


def check_name(kind: str, name: str) -> str:
    """`name` if it is a safe single path segment; otherwise a ValueError naming the flag's kind."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name must not be empty")
    if len(name) > MAX_NAME_CHARS or not _NAME.fullmatch(name):
        raise ValueError(f"{kind} name {name!r} is not allowed: use letters, digits, '_', '-', '.' or '+' "
                         f"(at most {MAX_NAME_CHARS}, not starting with '.'); it becomes one folder or file name "
                         "in the workspace, never a path")
    return name


@dataclass(frozen=True)
class Workspace:
    """Paths of a workspace's artifacts (reference: ../shared/DESIGN.md, "The workspace")."""

    root: Location  # a folder on disk, or a prefix on an object store (data_schemas.storage)

    def __init__(self, root: str | Location):
        object.__setattr__(self, "root", location(root))

    def corpus(self, name: str) -> Location:
        return self.root / CORPORA / check_name("corpus", name)

    def corpus_part(self, name: str, kind: str) -> Location:
        """`corpora/NAME/KIND`: sentences, passages or captions."""
        return self.corpus(name) / check_name("kind", kind)

    def vocab_folder(self) -> Location:
        return self.root / VOCAB

    def vocab(self, name: str) -> Location:
        return self.vocab_folder() / f"{check_name('vocabulary', name)}.parquet"

    def vectors(self, model: str, corpus: str, kind: str) -> Location:
        return self.root / VECTORS / check_name("model", model) / check_name("corpus", corpus) / check_name(
            "kind", kind)

    def features(self, cnn: str, dataset: str) -> Location:
        return self.root / FEATURES / check_name("cnn", cnn) / check_name("dataset", dataset)

    def models(self) -> Location:
        return self.root / MODELS

    def model(self, name: str) -> Location:
        return self.models() / check_name("model", name)

    def styles(self, encoder: str) -> Location:
        return self.root / STYLES / check_name("encoder", encoder)

    def index_root(self) -> Location:
        return self.root / INDEX

    def index(self, vse: str, name: str) -> Location:
        return self.index_root() / check_name("model", vse) / check_name("index", name)

    def stories_root(self) -> Location:
        return self.root / STORIES

    def rejects(self, stage: str, *names: str) -> Location:
        return self.root.joinpath(REJECTS, check_name("stage", stage), *(check_name("name", n) for n in names))

    def find_model(self, model: str | Location, flag: str = "model") -> Location:
        """The one way a model is named: a model folder (holding config.json) given as a path or URL, or the
        id of one under `models/`; where it lives, on disk or on a store. A FileNotFoundError says where it
        looked."""
        path = location(model)
        if (path / MODEL_CONFIG).is_file():
            return path
        if is_remote(path) or path.name != str(model) or str(model) in ("", ".", ".."):
            raise FileNotFoundError(f"--{flag} {model}: not a model folder (no {MODEL_CONFIG} in it)")
        under_models = self.model(str(model))
        if (under_models / MODEL_CONFIG).is_file():
            return under_models
        raise FileNotFoundError(f"--{flag} {model!r} is neither a model folder nor a model under {self.models()}")

    def resolve_model(self, model: str | Location, flag: str = "model") -> Path:
        """`find_model`'s folder on this machine: a model on an object store is copied once into the local
        cache (`data_schemas.storage.local_copy`), since torch reads local files."""
        return local_copy(self.find_model(model, flag), leave_out=(MODEL_CHECKPOINT,))
