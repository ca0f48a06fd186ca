"""VGG-19 up to fc7 after its ReLU (4096-d), the image feature of the original (reference e), with the
original's preprocessing, loading a torchvision-style state dict.

Module names follow torchvision's `vgg19`: `features.N` for the 16 convolutions, `classifier.0` (fc6) and
`classifier.3` (fc7). The weights must be the Oxford Caffe net (BGR input, mean-subtracted, 0-255) converted
to those names; torchvision's own VGG-19 weights are another set with another preprocessing and do not give
the original's features. A `classifier.6` (fc8) in the file is ignored.
"""

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

IMAGE_SIZE = 224
FEATURE_DIM = 4096
SHORT_SIDE = 256
MEAN_BGR = np.array([103.939, 116.779, 123.68])
# Channels of each 3x3 convolution, "M" for a 2x2 max-pool: configuration E of the VGG paper.
LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
FC8_PREFIX = "classifier.6."


class VGG19(nn.Module):
    """(B, 3, 224, 224) BGR mean-subtracted -> (B, 4096) fc7 after ReLU (dropout absent, as at test time)."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for layer in LAYERS:
            if layer == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, layer, 3, padding=1), nn.ReLU(inplace=True)]
                channels = layer
        self.features = nn.Sequential(*layers)
        # Indices 0 and 3 as in torchvision, where ReLU and Dropout sit between the linear layers.
        self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(),
                                        nn.Linear(4096, FEATURE_DIM), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).flatten(1)  # (C, H, W) order, as Caffe flattens pool5
        return self.classifier(x)

    def load_state_dict(self, state_dict: Mapping[str, torch.Tensor], strict: bool = True, assign: bool = False):
        """Load fc6/fc7 and the convolutions; fc8 (`classifier.6`), if the file has it, is not part of the feature."""
        kept = {name: value for name, value in state_dict.items() if not name.startswith(FC8_PREFIX)}
        return super().load_state_dict(kept, strict=strict, assign=assign)


def _linear_taps(size_in: int, size_out: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of output pixels start..stop-1 of a bilinear resize with pixel centres
    at i + 0.5 (skimage/scipy `zoom(grid_mode=True)`); the few taps past the border are clamped to it."""
    source = (np.arange(start, stop) + 0.5) * (size_in / size_out) - 0.5
    source = np.clip(source, 0, size_in - 1)
    low = np.floor(source).astype(np.int64)
    high = np.minimum(low + 1, size_in - 1)
    return low, high, source - low


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """The original's `load_image`: shorter side to 256 by bilinear resize without anti-aliasing (the other
    side by integer division, as Python 2 did), the central 224 x 224 crop, RGB -> BGR, minus the BGR mean,
    no scaling. Returns float32 (3, 224, 224).

    Only the cropped rows and columns are interpolated: the same values as resizing the whole image and
    cropping, without building a huge intermediate for a very long panorama.
    """
    height, width = rgb.shape[:2]
    if height < width:
        new_height, new_width = SHORT_SIDE, width * SHORT_SIDE // height
    else:
        new_height, new_width = height * SHORT_SIDE // width, SHORT_SIDE
    top, left = new_height // 2 - IMAGE_SIZE // 2, new_width // 2 - IMAGE_SIZE // 2
    image = rgb.astype(np.float64)
    low, high, frac = _linear_taps(height, new_height, top, top + IMAGE_SIZE)
    image = image[low] * (1 - frac)[:, None, None] + image[high] * frac[:, None, None]
    low, high, frac = _linear_taps(width, new_width, left, left + IMAGE_SIZE)
    image = image[:, low] * (1 - frac)[None, :, None] + image[:, high] * frac[None, :, None]
    bgr = image[:, :, ::-1] - MEAN_BGR
    return np.ascontiguousarray(bgr.transpose(2, 0, 1), dtype=np.float32)

