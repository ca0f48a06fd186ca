"""VGG-19 fc7: a torchvision-named state dict (with fc8) loads, the module computes conv/pool/fc6/fc7 as a
functional re-implementation does, and the preprocessing is the original's skimage resize and crop."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.transform import resize

from model.cnn.registry import VGG19, load_image_model
from model.cnn.vgg19 import FEATURE_DIM, MEAN_BGR, preprocess

# torchvision's vgg19: convolutions at these `features` indices, max-pools after the ones marked.
CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256),
         (16, 256, 256), (19, 256, 512), (21, 512, 512), (23, 512, 512), (25, 512, 512), (28, 512, 512),
         (30, 512, 512), (32, 512, 512), (34, 512, 512)]
POOL_AFTER = {2, 7, 16, 25, 34}
DENSE = [("classifier.0", 512 * 7 * 7, 4096), ("classifier.3", 4096, 4096), ("classifier.6", 4096, 1000)]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    generator = torch.Generator().manual_seed(0)
    state = {}
    for index, c_in, c_out in CONVS:
        scale = (2 / (9 * c_in)) ** 0.5  # He initialisation keeps activations of random weights in range
        state[f"features.{index}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=generator) * scale
        state[f"features.{index}.bias"] = torch.randn(c_out, generator=generator) * 0.01
    for name, n_in, n_out in DENSE:
        state[f"{name}.weight"] = torch.randn(n_out, n_in, generator=generator) * (2 / n_in) ** 0.5
        state[f"{name}.bias"] = torch.randn(n_out, generator=generator) * 0.01
    path = tmp_path_factory.mktemp("vgg") / "vgg19-caffe.pth"
    torch.save(state, path)
    return path, state


def functional_fc7(x: torch.Tensor, state: dict) -> torch.Tensor:
    for index, _, _ in CONVS:
        x = F.relu(F.conv2d(x, state[f"features.{index}.weight"], state[f"features.{index}.bias"], padding=1))
        if index in POOL_AFTER:
            x = F.max_pool2d(x, 2)
    x = F.relu(F.linear(x.flatten(1), state["classifier.0.weight"], state["classifier.0.bias"]))
    return F.relu(F.linear(x, state["classifier.3.weight"], state["classifier.3.bias"]))


def test_fc7_of_a_torchvision_named_state_dict(weights):
    path, state = weights
    model = load_image_model(VGG19, path)  # strict load; classifier.6 (fc8) is ignored
    image = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    x = torch.from_numpy(preprocess(image))[None]
    with torch.inference_mode():
        fc7 = model(x)
        expected = functional_fc7(x, state)
    assert fc7.shape == (1, FEATURE_DIM) and fc7.min() >= 0 and fc7.max() > 0
    np.testing.assert_allclose(fc7, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


@pytest.mark.parametrize("shape", [(375, 500), (500, 333), (150, 200), (256, 256), (40, 600)])
def test_preprocess_is_the_originals_skimage_resize_and_crop(shape):
    height, width = shape
    image = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    size = (256, width * 256 // height) if height < width else (height * 256 // width, 256)
    resized = resize(image, size, order=1, mode="constant", anti_aliasing=False, preserve_range=True)
    h, w = resized.shape[:2]
    crop = resized[h // 2 - 112 : h // 2 + 112, w // 2 - 112 : w // 2 + 112]
    expected = (crop[:, :, ::-1] - MEAN_BGR).transpose(2, 0, 1)
    np.testing.assert_allclose(preprocess(image), expected, atol=1e-3)
