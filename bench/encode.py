"""Benchmark: the Beam encode job (Parquet to Parquet) vs a bare torch.nn.GRU over the same batches.

Encodes all Flickr8k and COCO captions (about 65 k texts) with an encoder of the given sizes
(random weights unless --encoder names a model: speed does not depend on the values), then runs a
bare `nn.GRU` of the same sizes over the same length-bucketed batches in this process. Prints
sentences/s of both, their ratio and the padding waste.
"""

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from data_schemas import CAPTIONS
from data_schemas import text as col
from data_schemas.shards import read_artifact
from model.skipthought.encoder import SkipThoughtConfig, SkipThoughtEncoder
from model.skipthought.files import read_config
from model.text.batching import plan_batches
from pipelines import encode
from pipelines.corpus import captions, vocab

CORPORA = {"flickr8k": ("captions/flickr8k/Flickr8k.token.txt.gz", "flickr8k"),
           "coco": ("captions/coco2017/captions_val2017.json.gz", "coco")}


def random_model(out: Path, words: list[str], dim_word: int, dim: int) -> Path:
    import numpy as np

    from model.skipthought.files import save_encoder

    config = SkipThoughtConfig(kind="uni", dim_word=dim_word, uni_dim=dim)
    table = np.random.default_rng(0).normal(size=(len(words), dim_word)).astype(np.float32)
    save_encoder(out, SkipThoughtEncoder(config), words, {"uni": table})
    return out


@torch.inference_mode()
def bare_gru_seconds(lengths: list[int], dim_word: int, dim: int, params: encode.EncodeParams) -> float:
    """A bare nn.GRU over the same batches (random inputs of the same shapes), packed like ours."""
    gru = torch.nn.GRU(dim_word, dim, batch_first=True)
    groups = plan_batches(lengths, params.batch_size, params.batch_tokens)
    inputs = [(torch.randn(len(g), max(lengths[i] for i in g), dim_word), torch.tensor([lengths[i] for i in g]))
              for g in groups]
    started = time.perf_counter()
    for x, lens in inputs:
        gru(pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--encoder", type=Path, help="an encoder model directory (default: random weights)")
    parser.add_argument("--dim-word", type=int, default=256)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("beam_args", nargs="*", help="Beam flags for the job (default: all cores)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        workspace = Path(temp)
        for name, (path, fmt) in CORPORA.items():
            captions.run(str(args.shared / path), name, workspace, captions.CaptionParams(fmt))
        report = vocab.run(list(CORPORA), 20_000, workspace)
        words = pq.read_table(report.path).column(col.WORD).to_pylist()
        model = args.encoder or random_model(workspace / "bench-encoder", words, args.dim_word, args.dim)
        config = read_config(model)
        params = encode.EncodeParams(str(model))
        lengths = [n for name in CORPORA for n in read_artifact(
            workspace / "corpora" / name / "captions", CAPTIONS, [col.N_TOKENS]).column(col.N_TOKENS).to_pylist()]
        started = time.perf_counter()
        stats = {"tokens_real": 0, "tokens_padded": 0, "records_out": 0}
        for name in CORPORA:
            result = encode.run(params, name, "captions", workspace, args.beam_args)
            for key in stats:
                stats[key] += result.stats.get(key, 0)
        beam_seconds = time.perf_counter() - started
        torch.set_num_threads(torch.get_num_threads())
        gru_seconds = bare_gru_seconds(lengths, config.dim_word, config.uni_dim, params)
    texts = stats["records_out"]
    waste = 1 - stats["tokens_real"] / stats["tokens_padded"]
    print(f"encoder: uni GRU {config.dim_word} -> {config.uni_dim}, {texts:,} texts, "
          f"{torch.get_num_threads()} torch threads for the bare GRU")
    print(f"beam encode job : {beam_seconds:7.1f} s  {texts / beam_seconds:9,.0f} sentences/s  "
          f"padding waste {waste:.1%}")
    print(f"bare nn.GRU     : {gru_seconds:7.1f} s  {texts / gru_seconds:9,.0f} sentences/s")
    print(f"ratio job/bare  : {gru_seconds / beam_seconds:.2f} (target >= 0.8 on CPU)")


if __name__ == "__main__":
    from pipelines.core.logs import configure_logging

    configure_logging()
    main()
