"""Loader for the released storyteller decoder (reference c): `romance.npz` (weights),
`romance.npz.pkl` (options, beside it) and `romance_dictionary.pkl`, into a decoder model directory.

Name and shape mapping (Theano row-vector layout to torch):

    Wemb (n_words, dim_word)                         -> embedding.weight (as is)
    ff_state_W (dimctx, dim), ff_state_b (dim)       -> ff_state.weight (transposed), .bias
    decoder_{W,b,U,Wx,Ux,bx}                         -> gru.* (model.skipthought.original.gru_state)
    ff_hid_W (dim, dim_word), ff_hid_b (dim_word)    -> ff_hid.weight (transposed), .bias; only with doutput
    ff_logit_W (dim_word or dim, n_words), ff_logit_b -> ff_logit.weight (transposed), .bias

Other arrays (the trainer saves `history_errs`) are ignored. The dictionary file holds two pickles
back to back (worddict, then wordcount; reference a.2); like the original, only the first is used.
Words with index >= n_words were UNK to the original and are left out of vocab.txt.
"""

from pathlib import Path

import numpy as np
import torch

from model.decoder.conditional_gru import DecoderConfig, StoryDecoder
from model.decoder.files import save_decoder
from model.original_files import OriginalFileError, int_option, read_arrays, read_options, read_py2_pickles
from model.skipthought.files import EOS, UNK
from model.skipthought.original import gru_state, read_gru

OPTIONS = ("n_words", "dim_word", "dim", "dimctx")


def read_decoder_options(path: Path) -> dict:
    options = read_options(path, OPTIONS, "the decoder's .npz.pkl options file")
    if options.get("decoder", "gru") != "gru":
        raise OriginalFileError(f"{path}: decoder {options['decoder']!r} is not supported; the storyteller "
                                f"decoder is a 'gru' (reference c.1)")
    return options


def _word(key: object, path: Path) -> str:
    # Python 2 pickles hold byte-string (`str`) keys, or `unicode` ones that load as str.
    if isinstance(key, str):
        return key
    try:
        return key.decode("utf-8")
    except (AttributeError, UnicodeDecodeError) as error:
        raise OriginalFileError(f"{path}: dictionary key {key!r} is not UTF-8 text") from error


def read_decoder_dictionary(path: Path) -> dict[str, int]:
    """The worddict, the first of the file's two pickles; a damaged second one means a bad download."""
    worddict = read_py2_pickles(path, 2)[0]
    if not isinstance(worddict, dict) or not all(isinstance(i, int) for i in worddict.values()):
        raise OriginalFileError(f"{path} does not start with a word -> index dict: is it romance_dictionary.pkl?")
    return {_word(key, path): index for key, index in worddict.items()}


def dictionary_words(worddict: dict[str, int], n_words: int, path: Path) -> list[str]:
    """Softmax row -> word: <eos>, UNK, then the words of index 2 .. n_words-1 (reference a.2)."""
    by_index: dict[int, str] = {}
    for word, index in worddict.items():
        if index in by_index:
            raise OriginalFileError(f"{path}: words {by_index[index]!r} and {word!r} share index {index}")
        by_index[index] = word
    # Counted, not listed: n_words comes from a file and may be absurdly large.
    missing = n_words - 2 - sum(1 for index in by_index if 2 <= index < n_words)
    if missing > 0:
        first = next(i for i in range(2, n_words) if i not in by_index)
        raise OriginalFileError(f"{path} has no word for {missing} of the indices 2..{n_words - 1} "
                                f"(first {first}), but the options say n_words = {n_words}: are the "
                                f"dictionary and the model from the same training run?")
    return [EOS, UNK] + [by_index[i] for i in range(2, n_words)]


def convert_decoder(npz_path: Path, dictionary_path: Path, out_dir: Path) -> DecoderConfig:
    """Write a decoder model directory from romance.npz, the romance.npz.pkl beside it and the dictionary."""
    npz_path, dictionary_path, out_dir = Path(npz_path), Path(dictionary_path), Path(out_dir)
    if not npz_path.is_file():
        raise OriginalFileError(f"{npz_path} is missing")
    options_path = npz_path.with_name(f"{npz_path.name}.pkl")
    options = read_decoder_options(options_path)
    n_words, dim_word, dim, dim_ctx = (int_option(options_path, options, key) for key in OPTIONS)
    # The storyteller's loader treats a missing `doutput` as True (reference c.1).
    deep_output = bool(options.get("doutput", True))
    worddict = read_decoder_dictionary(dictionary_path)
    words = dictionary_words(worddict, n_words, dictionary_path)
    expected = {"Wemb": (n_words, dim_word), "ff_state_W": (dim_ctx, dim), "ff_state_b": (dim,),
                "ff_logit_W": (dim_word if deep_output else dim, n_words), "ff_logit_b": (n_words,)}
    if deep_output:
        expected |= {"ff_hid_W": (dim, dim_word), "ff_hid_b": (dim_word,)}
    arrays = read_arrays(npz_path, expected)
    gru = read_gru(npz_path, "decoder", dim_word, dim)
    config = DecoderConfig(n_words=n_words, dim_word=dim_word, dim=dim, dim_ctx=dim_ctx, deep_output=deep_output,
                           provenance={"source": "released neural-storyteller decoder (Kiros 2015)",
                                       "model": str(npz_path), "dictionary": str(dictionary_path),
                                       "dictionary_words": len(worddict),
                                       "words_beyond_n_words_as_unk": len(worddict) - (n_words - 2),
                                       "options": options})
    model = StoryDecoder(config)
    state = {"embedding.weight": torch.from_numpy(arrays["Wemb"])}
    for layer in ("ff_state", "ff_logit", *(("ff_hid",) if deep_output else ())):
        state[f"{layer}.weight"] = torch.from_numpy(np.ascontiguousarray(arrays[f"{layer}_W"].T))
        state[f"{layer}.bias"] = torch.from_numpy(arrays[f"{layer}_b"])
    state |= {f"gru.{name}": tensor for name, tensor in gru_state(gru).items()}
    model.load_state_dict(state)
    save_decoder(out_dir, model, words)
    return config
