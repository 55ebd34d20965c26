"""Songs shared between the processes of `accelerate launch` (on one node or several).

Process `i` of `N` takes every `N`-th song from the `i`-th, on its own device, and says so
in the log; the shares can then be gathered back into input order on every process, so
the result equals one process's run. Without a launcher there is one process, and its
share is every song.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator, Sequence

logger = logging.getLogger(__name__)


def launched_processes():
    """accelerate's state of this process: which of how many, and its device (CPU
    processes talk over gloo when there is no GPU)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


@contextmanager
def ending_together() -> Iterator:
    """`launched_processes()`, for a command's whole run: when it ends without an error,
    every process waits for the others and the process group is closed, so none leaves
    while another still talks to it (gloo aborts a process whose peer has gone). After
    an error nothing waits: the launcher ends the other processes."""
    state = launched_processes()
    yield state
    if state.num_processes > 1:
        state.wait_for_everyone()
        state.destroy_process_group()


def this_share(items: Sequence, state, doing: str) -> list:
    """This process's share of `items`, logged as "process i of N: <doing> k songs"."""
    share = list(items[state.process_index :: state.num_processes])
    if state.num_processes > 1:
        logger.info("process %d of %d: %s %d songs", state.process_index, state.num_processes, doing, len(share))
    return share


def all_shares(state, share: list, count: int) -> list:
    """Every process's `this_share` of `count` items, gathered back into input order, on
    every process (items are pickled across)."""
    if state.num_processes == 1:
        return share
    from accelerate.utils import gather_object

    whole = [None] * count
    for index, piece in enumerate(gather_object([share])):  # one list per process, in process order
        whole[index :: state.num_processes] = piece
    return whole
