"""EfficientNet-Lite0 as a plain torch module that loads the efficientnet_pytorch-style state dict of the
ImageNet weights (`_conv_stem`, `_blocks.N._expand_conv`, ..., `_conv_head`, `_fc`), and its preprocessing.

The Lite models are EfficientNet-B0 made for edge devices (TF `efficientnet_lite_builder.py`): ReLU6
instead of swish, no squeeze-and-excitation, stem and head not scaled. The weights were converted from
TF, so every convolution pads like TF's "SAME": stride-2 layers pad more at the bottom/right than at the
top/left, which a symmetric torch padding would not reproduce.

The feature is the global average of the head's ReLU6 output, 1280-d, before dropout and the classifier.
"""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

IMAGE_SIZE = 224
FEATURE_DIM = 1280
# TF's eval crop: the centre square of side 224/(224+32) of the shorter side, then resized to 224.
CROP_PADDING = 32
# "Edge models use inception-style MEAN and STDDEV for better post-quantization" (efficientnet_lite_builder).
MEAN_RGB, STDDEV_RGB = 127.0, 128.0
BN_EPS = 1e-3  # TF's batch-norm epsilon, not torch's 1e-5

# One row per stage: (repeats, kernel, stride, expand ratio, input channels, output channels), as in
# efficientnet_lite_builder's block strings 'r1_k3_s11_e1_i32_o16', ... for Lite0 (width = depth = 1.0).
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TF "SAME" padding: output size ceil(input / stride), the odd pixel of padding at the bottom/right."""
    height, width = x.shape[-2:]
    pad_h = max((-(-height // stride) - 1) * stride + kernel - height, 0)
    pad_w = max((-(-width // stride) - 1) * stride + kernel - width, 0)
    return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, k x k depthwise, 1x1 linear projection, identity shortcut."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        self.kernel, self.stride, self.expand = kernel, stride, expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(c_in, hidden, 1, bias=False)
            self._bn0 = batch_norm(hidden)
        # At stride 1 "SAME" is symmetric, so the convolution pads itself; stride 2 pads in forward.
        padding = kernel // 2 if stride == 1 else 0
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride, padding, groups=hidden, bias=False)
        self._bn1 = batch_norm(hidden)
        self._project_conv = nn.Conv2d(hidden, c_out, 1, bias=False)
        self._bn2 = batch_norm(c_out)
        self.shortcut = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        if self.stride > 1:
            h = same_pad(h, self.kernel, self.stride)
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.shortcut else h


class EfficientNetLite0(nn.Module):
    """(B, 3, 224, 224) normalised RGB -> (B, 1280) pooled features; `logits` adds the ImageNet classifier."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, bias=False)
        self._bn0 = batch_norm(32)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in STAGES:
            blocks.append(MBConv(c_in, c_out, kernel, stride, expand))
            blocks += [MBConv(c_out, c_out, kernel, 1, expand) for _ in range(repeats - 1)]
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(STAGES[-1][5], FEATURE_DIM, 1, bias=False)
        self._bn1 = batch_norm(FEATURE_DIM)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)  # kept so the released state dict loads strictly

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(same_pad(x, 3, 2))))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """ImageNet class scores from pooled features (dropout is the identity at inference)."""
        return self._fc(features)


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """TF's EfficientNet eval preprocessing: the centre crop of 224/256 of the shorter side, bicubic
    resize to 224 x 224, (x - 127) / 128. Returns float32 (3, 224, 224).

    The resize is Pillow's bicubic (Keys a = -0.5, as TF's), which also smooths when it shrinks, where
    TF's does not; upscaled small images are resized alike.
    """
    height, width = rgb.shape[:2]
    crop = max(1, IMAGE_SIZE * min(height, width) // (IMAGE_SIZE + CROP_PADDING))
    top, left = (height - crop + 1) // 2, (width - crop + 1) // 2
    image = Image.fromarray(rgb).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC,
                                        box=(left, top, left + crop, top + crop))
    x = (np.asarray(image, dtype=np.float32) - MEAN_RGB) / STDDEV_RGB
    return np.ascontiguousarray(x.transpose(2, 0, 1))
