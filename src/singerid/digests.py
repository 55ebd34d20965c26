"""Content digests: the keys of singerid's caches and the identity of weights.

A cache keyed by content (not by a path) survives moves and is never served stale
work for a changed file; weights identified by content mean the same thing on every
machine.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content (remembered while its size and mtime stay the same)."""
    stat = Path(path).stat()
    return _file_digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_digest(module, *extra: str) -> str:
    """SHA-256 of a torch module's parameters and buffers (names and bytes), plus `extra`."""
    import torch

    digest = hashlib.sha256("".join(extra).encode())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
