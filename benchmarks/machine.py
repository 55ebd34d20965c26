"""What a benchmark ran on, for the first line of its table."""

from __future__ import annotations

import contextlib
import os
import platform

import torch


def describe(device: torch.device | str = "cpu") -> str:
    device = torch.device(device)
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        cpu = names[0] if names else cpu
    text = f"CPU {cpu} ({os.cpu_count()} cores), torch {torch.__version__}, {torch.get_num_threads()} threads"
    if device.type == "cuda":
        text += f", CUDA device {torch.cuda.get_device_name(device)}"
    return text
