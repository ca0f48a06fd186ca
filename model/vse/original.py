"""Loader for the released visual-semantic embedding (reference d.2): `coco_embedding.npz` (weights),
`coco_embedding.npz.pkl` (options) and `coco_embedding.npz.dictionary.pkl` (one pickle holding the
word -> index dict), into a VSE model directory.

Name and shape mapping (Theano row-vector layout to torch):

    Wemb (n_words, dim_word)                      -> embedding.weight (as is)
    encoder_{W,b,U,Wx,Ux,bx}                      -> gru.* (model.skipthought.original.gru_state)
    ff_image_W (dim_image, dim), ff_image_b (dim) -> image_projection.weight (transposed), .bias

The dictionary's indices run from 2 to len + 1 but n_words = len(worddict), so the two words with
index >= n_words always became UNK in the original (reference a.2). vocab.txt lists only the words
below n_words, which gives them UNK here too.
"""

from pathlib import Path

import torch

from model.original_files import OriginalFileError, int_option, read_arrays, read_options, read_py2_pickle
from model.skipthought.files import EOS, UNK
from model.skipthought.original import gru_state, read_gru
from model.vse.embedding import VisualSemanticEmbedding, VSEConfig
from model.vse.files import save_vse


def read_vse_options(path: Path) -> dict:
    options = read_options(path, ("dim_word", "dim", "dim_image"), "the VSE .npz.pkl options file")
    if options.get("encoder", "gru") != "gru":
        raise OriginalFileError(f"{path}: encoder {options['encoder']!r} is not supported; the storyteller "
                                f"loads only the 'gru' text encoder (reference d.1)")
    return options


def read_worddict(path: Path) -> dict[str, int]:
    worddict = read_py2_pickle(path)
    if not isinstance(worddict, dict) or not worddict or not all(
            isinstance(word, str) and isinstance(index, int) for word, index in worddict.items()):
        raise OriginalFileError(f"{path} does not hold a word -> index dict: is it the .npz.dictionary.pkl file?")
    indices = sorted(worddict.values())
    if indices != list(range(2, len(worddict) + 2)):
        raise OriginalFileError(f"{path}: word indices should run from 2 to {len(worddict) + 1} without gaps")
    return worddict


def convert_vse(npz_path: Path, out_dir: Path) -> VSEConfig:
    """Write a VSE model directory from coco_embedding.npz and its two pickles beside it."""
    npz_path, out_dir = Path(npz_path), Path(out_dir)
    if not npz_path.is_file():
        raise OriginalFileError(f"{npz_path} is missing")
    options_path = npz_path.with_name(f"{npz_path.name}.pkl")
    options = read_vse_options(options_path)
    worddict = read_worddict(npz_path.with_name(f"{npz_path.name}.dictionary.pkl"))
    dim_word, dim, dim_image = (int_option(options_path, options, key) for key in ("dim_word", "dim", "dim_image"))
    n_words = int_option(options_path, options, "n_words", len(worddict))
    if n_words > len(worddict) + 2:
        raise OriginalFileError(f"{npz_path}.pkl says n_words = {n_words}, but the dictionary has only "
                                f"{len(worddict)} words (+ <eos>, UNK): are the files from the same model?")
    arrays = read_arrays(npz_path, {"Wemb": (n_words, dim_word), "ff_image_W": (dim_image, dim),
                                    "ff_image_b": (dim,)})
    gru = read_gru(npz_path, "encoder", dim_word, dim)
    words = [EOS, UNK] + [word for word, _ in sorted(worddict.items(), key=lambda item: item[1])]
    config = VSEConfig(n_words=n_words, dim_image=dim_image, dim_word=dim_word, dim=dim, provenance={
        "source": "released visual-semantic embedding (Kiros et al. 2014)", "model": str(npz_path),
        "dictionary_words": len(worddict), "words_beyond_n_words_as_unk": words[n_words:], "options": options,
        "cnn": "vgg19",  # the released model reads VGG-19 fc7 features (reference e)
    })
    model = VisualSemanticEmbedding(config)
    model.embedding.load_state_dict({"weight": torch.from_numpy(arrays["Wemb"])})
    model.gru.load_state_dict(gru_state(gru))
    model.image_projection.load_state_dict({"weight": torch.from_numpy(arrays["ff_image_W"].T.copy()),
                                            "bias": torch.from_numpy(arrays["ff_image_b"])})
    save_vse(out_dir, model, words[:n_words])
    return config
