"""A table per kind of artifact in a workspace (corpora, vocabularies, vectors, features, models, styles,
caption indexes): what `make demo` prints at the end. The workspace may be on an object store."""

import argparse
import json

from data_schemas.storage import Location, location
from data_schemas.workspace import CORPORA, FEATURES, INDEX, MODEL_CONFIG, MODELS, STYLES, VECTORS, VOCAB
from flows.cli.report import table
from pipelines.core.manifest import META_FILE
from pipelines.style.files import cosines_to_others


def _metas(pattern: str, workspace: Location) -> list[tuple[Location, dict]]:
    return [(path, json.loads(path.read_text())) for path in sorted(workspace.glob(pattern))]


def corpora_table(workspace: Location) -> str:
    rows = []
    for path, meta in _metas(f"{CORPORA}/*/*/{META_FILE}", workspace):
        stats = meta.get("stats", {})
        rows.append([f"{path.parent.parent.name}/{path.parent.name}", meta["shards"], meta["rows"],
                     stats.get("records_in", 0), stats.get("records_out", 0), stats.get("records_rejected", 0)])
    return table(["artifact", "shards", "rows", "records in", "out", "rejected"], rows)


def vocabularies_table(workspace: Location) -> str:
    rows = [[path.name.removesuffix(".meta.json"), meta["words"], meta["tokens"], meta["sequences"]]
            for path, meta in _metas(f"{VOCAB}/*.meta.json", workspace)]
    return table(["vocabulary", "words", "tokens", "sequences"], rows)


def vectors_table(workspace: Location) -> str:
    rows = []
    for path, meta in _metas(f"{VECTORS}/*/*/*/{META_FILE}", workspace):
        stats = meta.get("stats", {})
        waste = 1 - stats.get("tokens_real", 0) / max(stats.get("tokens_padded", 1), 1)
        rows.append(["/".join(path.parent.parts[-3:]), meta["rows"], stats.get("records_rejected", 0), f"{waste:.1%}"])
    return table(["vectors (model/corpus/kind)", "rows", "rejected", "padding"], rows)


def features_table(workspace: Location) -> str:
    rows = []
    for path, meta in _metas(f"{FEATURES}/*/*/{META_FILE}", workspace):
        stats = meta.get("stats", {})
        rows.append(["/".join(path.parent.parts[-2:]), meta["shards"], meta["rows"], stats.get("records_rejected", 0)])
    return table(["image features (cnn/dataset)", "shards", "images", "rejected"], rows)


def models_table(workspace: Location) -> str:
    rows = []
    for path, config in _metas(f"{MODELS}/*/{MODEL_CONFIG}", workspace):
        metrics = config.get("provenance", {}).get("metrics", {})
        if config.get("family") == "vse":
            test = metrics.get("test")
            quality = (f"test R@1/5/10 i2t {test['i2t']['r1']:.0f}/{test['i2t']['r5']:.0f}/{test['i2t']['r10']:.0f} "
                       f"t2i {test['t2i']['r1']:.0f}/{test['t2i']['r5']:.0f}/{test['t2i']['r10']:.0f} "
                       f"({test['images']} images)") if test else ""
            kind = f"vse/{config.get('kind', 'gru')}"
            rows.append([path.parent.name, kind, config.get("dim_word", ""), config["dim"], quality])
        else:
            history = metrics.get("history") or [{}]
            nll = history[-1].get("val_nll_per_token")
            rows.append([path.parent.name, config.get("kind", "?"), config.get("dim_word"), config.get("uni_dim"),
                         "" if nll is None else f"val NLL/token {nll:.3f}"])
    return table(["model", "kind", "dim_word", "dim", "quality"], rows)


def styles_table(workspace: Location) -> str:
    rows = []
    for path, meta in _metas(f"{STYLES}/*/*.json", workspace):
        cosines = cosines_to_others(workspace, path.parent.name, path.stem)
        rows.append([f"{path.parent.name}/{path.stem}", meta.get("source", ""), meta.get("kind", ""),
                     ",".join(meta.get("corpora", [])), meta.get("count", ""),
                     " ".join(f"{other} {cos:.3f}" for other, cos in cosines.items())])
    return table(["style (encoder/name)", "source", "kind", "corpora", "vectors", "cos to the others"], rows)


def indexes_table(workspace: Location) -> str:
    rows = []
    for path, meta in _metas(f"{INDEX}/*/*/{META_FILE}", workspace):
        rows.append(["/".join(path.parent.parts[-2:]), meta["captions"], meta["dim"], meta["index"]["factory"],
                     meta["index"]["nprobe"], meta["recall"][f"recall@{meta['recall']['k']}"]])
    return table(["caption index (vse/name)", "captions", "dim", "index", "nprobe", "recall@10"], rows)


def workspace_summary(workspace: str | Location) -> str:
    workspace = location(workspace)
    parts = [corpora_table, vocabularies_table, vectors_table, features_table, models_table, styles_table,
             indexes_table]
    return "\n\n".join(part(workspace) for part in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=location, required=True,
                        help="root folder of all artifacts, or an object-store prefix such as s3://bucket/prefix "
                             "(required)")
    print(workspace_summary(parser.parse_args().workspace))


if __name__ == "__main__":
    main()
