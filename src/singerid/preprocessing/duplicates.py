"""Copies of one recording at several places in a corpus, found before the split.

Collections hold the same recording on several albums (a compilation, a single and its
album, a reissue), byte for byte or re-encoded (an mp3 beside a flac, another bitrate).
Songs whose fingerprint (ffmpeg's `chromaprint` muxer, about 8 sub-fingerprints of 32 bits
a second) spans at least `MIN_SECONDS` (about 12.5 s of audio: the first 2.6 s make none)
are checked: shorter ones (jingles, silent tracks, test tones) carry little of an album and
are often the same file by design. Two songs are copies when their files have the same
content digest, or when their fingerprints match:

- at one alignment, at least `MIN_EQUAL` of the overlapping sub-fingerprints are equal,
  counting only values that occur once in each song (a steady sound, such as a test tone,
  repeats its values and so matches nothing);
- at that alignment at least `MIN_AGREEMENT` of the bits agree, over an overlap of at
  least `MIN_SECONDS` of fingerprint.

Measured on the demo corpus (benchmarks/duplicates.py prints the cost): a song against its
own 96 / 32 kbps mp3 or a 16 kHz Ogg has 73-89 % equal sub-fingerprints and 0.990-0.998
agreement; different songs, even two singers over one backing, at most 6 % and 0.82;
synthetic tones, for all their 0.88-0.96 agreement, no more than 3 equal values.

A song's fingerprint is cached under the cache folder by its content digest (an empty
file when ffmpeg makes none), so a resumed run only hashes.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from ..audio import ffmpeg_path
from ..digests import file_digest

SUB_FINGERPRINTS_PER_SECOND = 11025 / 1365  # chromaprint's default: 4096-sample frames, 2/3 overlap, at 11025 Hz
MIN_SECONDS = 10.0  # of fingerprint: shorter songs are not checked, shorter overlaps are no match
MIN_EQUAL = 0.25
MIN_AGREEMENT = 0.9
MIN_LENGTH = round(MIN_SECONDS * SUB_FINGERPRINTS_PER_SECOND)  # in sub-fingerprints
COMMON = 32  # a sub-fingerprint found in more songs than this tells nothing apart


@dataclass(frozen=True)
class Identity:
    """What a song file is: its content digest (None when unreadable) and its fingerprint
    (uint32 sub-fingerprints; empty when ffmpeg makes none)."""

    digest: str | None
    fingerprint: np.ndarray


@dataclass
class DuplicateGroup:
    songs: list[str]  # song ids, sorted
    identical: bool  # the same bytes; else the same recording, found by fingerprint


def fingerprint(path: str | Path) -> np.ndarray:
    """The Chromaprint sub-fingerprints of a file; CalledProcessError when ffmpeg fails."""
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", ffmpeg_path(path), "-vn", "-f", "chromaprint",
               "-fp_format", "raw", "-"]
    output = subprocess.run(command, capture_output=True, check=True).stdout
    return np.frombuffer(output[: len(output) // 4 * 4], dtype="<u4").astype(np.uint32)


def identify(path: str | Path, cache_dir: str | Path) -> Identity:
    """The song's digest and fingerprint, the fingerprint cached by digest under `cache_dir`."""
    try:
        digest = file_digest(path)
    except OSError:  # decoding will say what is wrong with it
        return Identity(None, np.zeros(0, np.uint32))
    cached = Path(cache_dir, "fingerprints", digest[:2], f"{digest}.chromaprint")
    if cached.is_file():
        return Identity(digest, np.frombuffer(cached.read_bytes(), dtype="<u4").astype(np.uint32))
    try:
        values = fingerprint(path)
    except subprocess.CalledProcessError:
        values = np.zeros(0, np.uint32)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f".{cached.name}.{os.getpid()}.partial")
    partial.write_bytes(values.astype("<u4").tobytes())
    os.replace(partial, cached)  # a run killed mid-write leaves no half fingerprint
    return Identity(digest, values)


def duplicate_groups(song_ids: list[str], identities: list[Identity]) -> list[DuplicateGroup]:
    """Groups of songs that are copies of one recording, each sorted, in order of their
    first song (songs shorter than `MIN_SECONDS` of fingerprint are in none)."""
    parent = list(range(len(song_ids)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    by_digest = defaultdict(list)
    for index, identity in enumerate(identities):
        if len(identity.fingerprint) >= MIN_LENGTH:
            by_digest[identity.digest].append(index)
    pairs = [(same[0], other) for same in by_digest.values() for other in same[1:]]
    for a, b in [*pairs, *_fingerprint_matches([identity.fingerprint for identity in identities])]:
        parent[root(b)] = root(a)
    members = defaultdict(list)
    for index in range(len(song_ids)):
        members[root(index)].append(index)
    groups = [DuplicateGroup(sorted(song_ids[index] for index in group),
                             len({identities[index].digest for index in group}) == 1)
              for group in members.values() if len(group) > 1]
    return sorted(groups, key=lambda group: group.songs[0])


def agreement(a: np.ndarray, b: np.ndarray, offset: int) -> tuple[float, int]:
    """The fraction of bits that agree where `a[i]` meets `b[i + offset]`, and the number of
    sub-fingerprints that overlap there."""
    start, stop = max(0, -offset), min(len(a), len(b) - offset)
    if stop <= start:
        return 0.0, 0
    differing = np.unpackbits((a[start:stop] ^ b[start + offset : stop + offset]).view(np.uint8)).sum()
    return 1.0 - differing / (32 * (stop - start)), stop - start


def is_match(a: np.ndarray, b: np.ndarray, offset: int, equal: int) -> bool:
    """Whether `a` and `b`, with `equal` sub-fingerprints found equal at `offset`, are copies."""
    overlap = min(len(a), len(b) - offset) - max(0, -offset)
    return overlap >= MIN_LENGTH and equal >= MIN_EQUAL * overlap \
        and agreement(a, b, offset)[0] >= MIN_AGREEMENT


def _fingerprint_matches(fingerprints: list[np.ndarray]) -> list[tuple[int, int]]:
    # Each song's once-only values, sorted by value: songs sharing one vote for the offset
    # between their positions; only offsets with enough votes are compared bit by bit.
    values, songs, positions = [], [], []
    for song, prints in enumerate(fingerprints):
        if len(prints) < MIN_LENGTH:
            continue
        unique, first, counts = np.unique(prints, return_index=True, return_counts=True)
        values.append(unique[counts == 1])
        positions.append(first[counts == 1])
        songs.append(np.full(len(values[-1]), song))
    if not values:
        return []
    values, songs, positions = (np.concatenate(parts) for parts in (values, songs, positions))
    order = np.argsort(values, kind="stable")  # within a value, in song order
    values, songs, positions = values[order], songs[order], positions[order]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    lengths = np.diff(np.r_[starts, len(values)])
    shared = (lengths > 1) & (lengths <= COMMON)
    votes = Counter()
    for start, length in zip(starts[shared], lengths[shared]):
        for i, j in combinations(range(start, start + length), 2):
            votes[songs[i], songs[j], positions[j] - positions[i]] += 1
    return sorted({(int(a), int(b)) for (a, b, offset), equal in votes.items()
                   if is_match(fingerprints[a], fingerprints[b], int(offset), equal)})
