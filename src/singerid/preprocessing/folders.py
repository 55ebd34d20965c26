"""Walking input folders: the one walker behind `find_songs`, `find_audio_files` and
`singers_from_folder`.

Symbolic links are followed (a corpus may be assembled from links into a music library),
but a folder is entered once, by device and inode, so link loops end and a link into
another album adds nothing; a file reached twice (a file link beside its target) comes
once. Where there are several ways to a folder or file, the one through the fewest links
wins, then the first in path order, so the real tree keeps its songs. The walk keeps its
own list of folders to visit, so depth is limited by the file system, not by recursion.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path


def find_files(folders: Iterable[str | Path], entered: Iterable[str | Path] = ()) -> list[Path]:
    """Every file below `folders`, walked as one tree, sorted. `entered`: folders to count as
    visited already (a corpus root whose own top level the caller has filtered)."""
    seen_folders = set()
    for folder in entered:
        with suppress(OSError):
            seen_folders.add(_identity(os.stat(folder)))
    # (links crossed, path parts, path): the heap pops the fewest links first, then path order.
    pending = [(int(os.path.islink(folder)), _key(str(folder)), str(folder)) for folder in folders]
    heapq.heapify(pending)
    best: dict[tuple, tuple] = {}  # a file's identity -> (links, path parts, path)
    while pending:
        links, key, folder = heapq.heappop(pending)
        try:
            identity = _identity(os.stat(folder))
            if identity in seen_folders:
                continue
            seen_folders.add(identity)
            entries = list(os.scandir(folder))
        except OSError:  # unreadable or vanished: skipped, as os.walk and Path.rglob do
            continue
        for entry in entries:
            with suppress(OSError):  # an entry that vanished or cannot be read is left out
                linked = entry.is_symlink()
                if entry.is_dir():
                    heapq.heappush(pending, (links + linked, (*key, entry.name), entry.path))
                elif entry.is_file():
                    # A file's identity is its real folder and name: hard links stay separate songs.
                    file = _file_identity(entry.path) if linked else (identity, entry.name)
                    found = (links + linked, (*key, entry.name), entry.path)
                    if file not in best or found < best[file]:
                        best[file] = found
    return sorted(Path(path) for _, _, path in best.values())


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _key(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split(os.sep) if part)


def _file_identity(path: str) -> tuple[tuple[int, int], str]:
    real = os.path.realpath(path)
    return _identity(os.stat(os.path.dirname(real))), os.path.basename(real)

