"""`--device auto|cpu|cuda` resolved once for every stage: training, RunInference and in-process APIs.

A `--device cuda` on a machine without CUDA fails here, before any work, with the flag's name.
"""

import contextlib

import torch

DEVICES = ("auto", "cpu", "cuda")


def torch_device(name: str) -> torch.device:
    """The torch device for `--device NAME`: auto picks CUDA when it is present."""
    if name not in DEVICES:
        raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)


def beam_device(name: str) -> str:
    """The same choice as Beam's PyTorch model handlers spell it ("CPU" or "GPU")."""
    return "GPU" if torch_device(name).type == "cuda" else "CPU"


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (the GRUs' speed there); full float32 on the CPU, where bf16 is slower."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
