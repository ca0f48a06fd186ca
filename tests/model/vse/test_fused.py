"""A fused VSE scores w cos_a + (1 - w) cos_b in one dot product, loads like any VSE (fp16 export too),
and refuses parts that do not fit together."""

import numpy as np
import pytest

from flows.cli.main import main
from model.export import export_model
from model.vse.api import VSEEncoder
from model.vse.files import read_vse_config
from model.vse.fuse import fuse_models
from tests.tiny_models import VSE_WORDS, random_vse, random_zero_shot

CAPTIONS = [["a", "dog", "runs", "."], ["two", "cats"], ["café"]]


@pytest.fixture
def parts(tmp_path):
    return random_vse(tmp_path / "vse"), random_zero_shot(tmp_path / "zero")


def test_the_fused_score_is_the_weighted_sum_of_the_cosines(parts, tmp_path):
    vse_dir, zero_dir = parts
    fuse_models(vse_dir, zero_dir, 0.7, tmp_path / "fused")
    fused, vse, zero = (VSEEncoder(d) for d in (tmp_path / "fused", vse_dir, zero_dir))
    features = np.random.default_rng(0).normal(size=(4, 12)).astype(np.float32)
    expected = 0.7 * vse.embed_features(features) @ vse.embed_token_lists(CAPTIONS).T + \
        0.3 * zero.embed_features(features) @ zero.embed_token_lists(CAPTIONS).T
    scores = fused.embed_features(features) @ fused.embed_token_lists(CAPTIONS).T
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(fused.embed_token_lists(CAPTIONS), axis=1), 1.0, atol=1e-5)
    config = read_vse_config(tmp_path / "fused")
    assert (config.kind, config.weight, config.dim) == ("fused", 0.7, 8 + 6)
    assert config.provenance["cnn"] == "efficientnet-lite0"


def test_a_fused_model_exports_in_fp16_and_loads(parts, tmp_path):
    fuse_models(*parts, 0.5, tmp_path / "fused")
    export_model(tmp_path / "fused", tmp_path / "shipped")
    original, shipped = VSEEncoder(tmp_path / "fused"), VSEEncoder(tmp_path / "shipped")
    np.testing.assert_allclose(shipped.embed_token_lists(CAPTIONS), original.embed_token_lists(CAPTIONS), atol=5e-3)


def test_parts_that_do_not_fit_are_refused(parts, tmp_path):
    vse_dir, zero_dir = parts
    other_words = random_zero_shot(tmp_path / "other-words", words=[*VSE_WORDS, "bird"])
    with pytest.raises(ValueError, match="different vocabularies"):
        fuse_models(vse_dir, other_words, 0.5, tmp_path / "f1")
    other_features = random_zero_shot(tmp_path / "other-features", dim_image=7)
    with pytest.raises(ValueError, match="12-d image features"):
        fuse_models(vse_dir, other_features, 0.5, tmp_path / "f2")
    with pytest.raises(ValueError, match=r"weight must lie in \[0, 1\]"):
        fuse_models(vse_dir, zero_dir, 1.5, tmp_path / "f3")


def test_build_fused_from_the_command_line(parts, tmp_path, capsys):
    vse_dir, zero_dir = parts
    workspace = tmp_path / "ws"
    assert main(["build", "fused", "--vse", str(vse_dir), "--zero-shot", str(zero_dir), "--weight", "0.6",
                 "--workspace", str(workspace)]) == 0
    assert "fused, weight 0.6" in capsys.readouterr().out
    assert read_vse_config(workspace / "models" / "fused-vse").weight == 0.6
    assert main(["build", "fused", "--vse", str(vse_dir), "--zero-shot", str(tmp_path / "missing"),
                 "--workspace", str(workspace)]) == 1
