"""Writing a fused VSE model directory (model/vse/fused.py) from two VSE model directories."""

from data_schemas.storage import Location, location
from model.skipthought.files import read_vocabulary
from model.vse.files import load_vse, read_vse_config, save_vse
from model.vse.fused import FusedConfig, FusedEmbedding


def fuse_models(first_dir: str | Location, second_dir: str | Location, weight: float,
                out_dir: str | Location) -> FusedConfig:
    """FIRST at weight w and SECOND at 1 - w, into OUT_DIR (on disk or on a store); both must read the same
    features and words."""
    first_dir, second_dir, out_dir = location(first_dir), location(second_dir), location(out_dir)
    configs = [read_vse_config(first_dir), read_vse_config(second_dir)]
    if configs[0].dim_image != configs[1].dim_image:
        raise ValueError(f"{first_dir} reads {configs[0].dim_image}-d image features and {second_dir} "
                         f"{configs[1].dim_image}-d ones: fused models must read the same CNN's features")
    cnns = [config.provenance.get("cnn") for config in configs]
    if None not in cnns and cnns[0] != cnns[1]:
        raise ValueError(f"{first_dir} reads {cnns[0]} features and {second_dir} {cnns[1]} ones")
    words = read_vocabulary(first_dir).words
    if read_vocabulary(second_dir).words != words:
        raise ValueError(f"{first_dir} and {second_dir} have different vocabularies: train the VSE with "
                         "`--vocabulary word-vectors` and the words model the zero-shot model was built from")
    config = FusedConfig(n_words=len(words), dim_image=configs[0].dim_image, dim=configs[0].dim + configs[1].dim,
                         weight=float(weight), parts={"a": configs[0].to_json(), "b": configs[1].to_json()},
                         provenance={"cnn": cnns[0] or cnns[1], "a": str(first_dir), "b": str(second_dir),
                                     "weight": float(weight)})
    model = FusedEmbedding(config, load_vse(first_dir), load_vse(second_dir))
    save_vse(out_dir, model, words)
    return config
