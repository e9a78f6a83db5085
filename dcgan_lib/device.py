"""Where a job runs: the device a user asks for, and the machine in words for a result's record.

One place for what every job needs: ``resolve_device("auto")`` picks CUDA when present, and
``describe_machine`` names the GPU (with its memory and CUDA) or the CPU, with torch and Python,
for the manifest beside each stored result (the book says which machine made each number).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from dcgan_lib.config import ConfigError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else the CPU; ``"cuda..."`` without CUDA is refused."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} asked for, but CUDA is not available here; use --device cpu"
        )
    return torch.device(name)


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_label(device: torch.device) -> str:
    """A short name of the device itself: the GPU's name, or ``"cpu"``."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def describe_machine(device: torch.device | None = None) -> str:
    """The machine in words for a manifest entry: one GPU (memory, CUDA) when ``device`` is a
    CUDA device (default: the current one if CUDA is present), else the CPU; then torch, Python.

    ``"one NVIDIA H200 (141 GB), CUDA 13.0, torch 2.11.0+cu130, Python 3.12.3"`` or
    ``"2-core x86_64 CPU (AMD EPYC ...), torch 2.14.1, Python 3.11.7"``."""
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    soft = f"torch {torch.__version__}, Python {platform.python_version()}"
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        gb = props.total_memory / 1e9
        return f"one {props.name} ({gb:.0f} GB), CUDA {torch.version.cuda}, {soft}"
    return f"{os.cpu_count()}-core {platform.machine()} CPU ({cpu_name()}), {soft}"
