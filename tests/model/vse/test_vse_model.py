"""The VSE module, its model directory and the in-process API: padded batches equal single texts,
unit vectors on both sides, <eos> and UNK handled by the API, and clear errors."""


import numpy as np
import pytest
import torch

from model.text_models import text_model_spec
from model.vse.api import VSEEncoder
from model.vse.files import load_vse, read_vse_config, vse_for_inference
from tests.tiny_models import VSE_WORDS as WORDS
from tests.tiny_models import random_vse


def test_padded_batch_equals_single_texts_and_vectors_are_unit(tmp_path):
    model = load_vse(random_vse(tmp_path / "vse"))
    texts = [[2, 3, 4, 5, 0], [7, 8, 0], [6, 0]]
    batch = torch.zeros((3, 5), dtype=torch.int64)
    for row, ids in enumerate(texts):
        batch[row, : len(ids)] = torch.tensor(ids)
    with torch.no_grad():
        together = model(batch, torch.tensor([5, 3, 2]))
        alone = torch.cat([model(torch.tensor([ids]), torch.tensor([len(ids)])) for ids in texts])
        images = model.embed_images(torch.rand(4, 12) * 10)
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=0)
    torch.testing.assert_close(together.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(images.norm(dim=1), torch.ones(4))


def test_model_directory_round_trip_and_text_model_dispatch(tmp_path):
    folder = random_vse(tmp_path / "vse")
    assert read_vse_config(folder).dim == 8 and read_vse_config(folder).n_words == len(WORDS)
    spec = text_model_spec(folder)
    assert (spec.family, spec.output_dim, spec.append_eos) == ("vse", 8, True)
    untrained, loaded = vse_for_inference(folder), load_vse(folder)
    saved = torch.load(folder / "weights.pt", weights_only=True)
    untrained.load_state_dict(saved)
    torch.testing.assert_close(untrained.state_dict(), loaded.state_dict())
    (folder / "vocab.txt").write_text("<eos>\nUNK\na\n")
    with pytest.raises(ValueError, match=r"vocab\.txt has 3 lines but config\.json says n_words = 9"):
        vse_for_inference(folder)
    with pytest.raises(FileNotFoundError, match="not a VSE model directory"):
        read_vse_config(tmp_path)


def test_api_appends_eos_maps_unknown_words_and_names_empty_texts(tmp_path):
    folder = random_vse(tmp_path / "vse")
    encoder, model = VSEEncoder(folder), load_vse(folder)
    vectors = encoder.embed_token_lists([["a", "dog", "runs", "."], ["two", "zebras"], ["café"]])
    with torch.no_grad():
        expected = [model(torch.tensor([ids]), torch.tensor([len(ids)]))[0].numpy()
                    for ids in ([2, 3, 4, 5, 0], [7, 1, 0], [6, 0])]
    np.testing.assert_allclose(vectors, np.stack(expected), atol=1e-6)
    np.testing.assert_allclose(encoder.embed_texts(["a dog runs."])[0], expected[0], atol=1e-6)
    with pytest.raises(ValueError, match=r"positions \[1\] have no tokens"):
        encoder.embed_token_lists([["a"], []])
    features = np.random.default_rng(0).normal(size=(3, 12)).astype(np.float32)
    with torch.no_grad():
        images = model.embed_images(torch.from_numpy(features)).numpy()
    np.testing.assert_allclose(encoder.embed_features(features), images, atol=1e-6)
    with pytest.raises(ValueError, match=r"shape \(3, 5\); this VSE reads \(N, 12\)"):
        encoder.embed_features(features[:, :5])
