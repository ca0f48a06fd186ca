"""A table of every corpus and vocabulary in a workspace: what `make demo` prints at the end."""

import argparse
import json
from pathlib import Path

from flows.report import table
from pipelines.manifest import META_FILE


def workspace_summary(workspace: Path) -> str:
    rows = []
    for meta_path in sorted((workspace / "corpora").glob(f"*/*/{META_FILE}")):
        meta = json.loads(meta_path.read_text())
        stats = meta.get("stats", {})
        rows.append(
            [
                f"{meta_path.parent.parent.name}/{meta_path.parent.name}",
                meta["shards"],
                meta["rows"],
                stats.get("records_in", 0),
                stats.get("records_out", 0),
                stats.get("records_rejected", 0),
            ]
        )
    corpora = table(["artifact", "shards", "rows", "records in", "out", "rejected"], rows)
    vocab_rows = []
    for meta_path in sorted((workspace / "vocab").glob("*.meta.json")):
        meta = json.loads(meta_path.read_text())
        vocab_rows.append([meta_path.name.removesuffix(".meta.json"), meta["words"], meta["tokens"], meta["sequences"]])
    vocabularies = table(["vocabulary", "words", "tokens", "sequences"], vocab_rows)
    vector_rows = []
    for meta_path in sorted((workspace / "vectors").glob(f"*/*/*/{META_FILE}")):
        meta = json.loads(meta_path.read_text())
        stats = meta.get("stats", {})
        waste = 1 - stats.get("tokens_real", 0) / max(stats.get("tokens_padded", 1), 1)
        vector_rows.append(["/".join(meta_path.parent.parts[-3:]), meta["rows"], stats.get("records_rejected", 0),
                            f"{waste:.1%}"])
    vectors = table(["vectors (model/corpus/kind)", "rows", "rejected", "padding"], vector_rows)
    model_rows = []
    for config_path in sorted((workspace / "models").glob("*/config.json")):
        config = json.loads(config_path.read_text())
        history = config.get("provenance", {}).get("metrics", {}).get("history", [{}])
        model_rows.append([config_path.parent.name, config["kind"], config["dim_word"], config["uni_dim"],
                           round(history[-1].get("val_nll_per_token", float("nan")), 3)])
    models = table(["model", "kind", "dim_word", "dim", "val NLL/token"], model_rows)
    return "\n\n".join([corpora, vocabularies, vectors, models])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, required=True)
    print(workspace_summary(parser.parse_args().workspace))


if __name__ == "__main__":
    main()
