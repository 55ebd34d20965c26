"""The errors singerid raises for things a user can fix; commands turn them into one line.

Library code raises these and never ends the interpreter; only the command layer
prints and picks an exit code.
"""

from __future__ import annotations

from pathlib import Path


class SingeridError(Exception):
    """A problem with the user's input or machine, with a message that says what to do."""


class SongError(SingeridError, ValueError):
    """One song could not be processed; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")

    def __reduce__(self):  # pickled as its parts: it travels back from worker processes
        return type(self), (self.path, self.problem)


class Unavailable(SingeridError, OSError):
    """A model, backbone or dataset that cannot be loaded from here."""


def one_line(error: BaseException) -> str:
    """The first line of an error's message (its type when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def song_error(path: str | Path, error: BaseException, stage: str | None = None) -> SongError:
    """`error` as the song's own error (unchanged when it already is one), naming the
    stage it happened in when given."""
    if isinstance(error, SongError):
        return error
    return SongError(path, f"{f'{stage} failed: ' if stage else ''}{type(error).__name__}: {one_line(error)}")


def is_a_path(name: str) -> bool:
    """Whether `name` reads as a local path rather than a Hub id like user/name."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def unavailable(kind: str, name: str, error: BaseException) -> Unavailable:
    """Why `name` (a folder or a Hub id) could not be loaded as a `kind`, and what to do."""
    from huggingface_hub import constants

    if Path(name).exists():
        return Unavailable(f"{kind} {name}: cannot be loaded from that folder: {one_line(error)}")
    if is_a_path(name):
        return Unavailable(f"{kind} {name}: no such folder (give an existing folder or a Hub id like user/name)")
    if constants.HF_HUB_OFFLINE:
        return Unavailable(f"{kind} {name}: not in the local Hugging Face cache, and the Hub is off "
                           f"(HF_HUB_OFFLINE=1): download it where the Hub can be reached, or give a local folder")
    return Unavailable(f"{kind} {name}: neither a folder here nor loadable from the Hub at {constants.ENDPOINT} "
                       f"({one_line(error)}): check the name and the network, or give a local folder")
