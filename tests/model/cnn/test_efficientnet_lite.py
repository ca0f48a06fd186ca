"""EfficientNet-Lite0: the released ImageNet weights load, our module computes what the reference
PyTorch port computes, photos of dogs are classified as dogs, and the TF eval crop is exact."""

import csv

import numpy as np
import pytest
import torch
from efficientnet_lite_pytorch import EfficientNet

from model.cnn.efficientnet_lite import FEATURE_DIM, preprocess
from model.cnn.image_loading import load_rgb
from model.cnn.registry import EFFICIENTNET_LITE0, VGG19, load_image_model, resolve_weights
from tests.conftest import SHARED_DATA

FLICKR = SHARED_DATA / "images" / "flickr8k_1000"
IMAGENET_DOGS = range(151, 269)  # ImageNet class indices of dog breeds


@pytest.fixture(scope="module")
def model():
    return load_image_model(EFFICIENTNET_LITE0, resolve_weights(EFFICIENTNET_LITE0, None))


def test_default_weights_come_from_the_installed_package():
    assert resolve_weights(EFFICIENTNET_LITE0, None).name == "efficientnet-lite0-57934424.pth"
    with pytest.raises(ValueError, match="--weights"):
        resolve_weights(VGG19, None)


def test_equals_the_reference_port(model):
    reference = EfficientNet.from_name("efficientnet-lite0", image_size=None)  # dynamic TF "SAME" padding
    reference.load_state_dict(torch.load(resolve_weights(EFFICIENTNET_LITE0, None), weights_only=True))
    reference.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ours = model(x)
        np.testing.assert_allclose(ours, reference.extract_features(x).mean(dim=(2, 3)), atol=1e-5)
        np.testing.assert_allclose(model.logits(ours), reference(x), atol=1e-4)


def test_dog_photos_are_dog_classes(model):
    captions: dict[str, list[str]] = {}
    with open(FLICKR / "captions.txt", newline="") as handle:
        for row in csv.DictReader(handle):
            captions.setdefault(row["image"], []).append(row["caption"].lower().split())
    dogs = sorted(image for image, texts in captions.items() if sum("dog" in words for words in texts) >= 3)[:16]
    batch = torch.from_numpy(np.stack([preprocess(load_rgb(str(FLICKR / "images" / name))) for name in dogs]))
    with torch.inference_mode():
        features = model(batch)
        top = model.logits(features).argmax(dim=1)
    assert features.shape == (16, FEATURE_DIM) and features.min() >= 0
    hits = sum(int(label) in IMAGENET_DOGS for label in top)
    assert hits >= 12, f"only {hits}/16 dog photos got a dog class: {top.tolist()}"


def test_preprocess_takes_the_tf_centre_crop():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (256, 300, 3), dtype=np.uint8)
    x = preprocess(image)
    # 224/256 of the shorter side is exactly 224 here: the crop is copied, not resampled.
    top, left = (256 - 224 + 1) // 2, (300 - 224 + 1) // 2
    expected = (image[top : top + 224, left : left + 224].astype(np.float32) - 127) / 128
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    np.testing.assert_allclose(x, expected.transpose(2, 0, 1), atol=1e-6)
    assert (preprocess(np.full((1, 1, 3), 255, np.uint8)) == 1.0).all()  # a 1-pixel image still works
