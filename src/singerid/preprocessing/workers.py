"""The CPU stages in worker processes: decoding, reading the separation cache, and
silence removal, while the main process keeps the separator (and its GPU) busy.

Results come back in input order, a bounded number ahead, so memory stays flat and
the output is exactly one process's. With one worker everything runs in the calling
process, as it always did.

A worker that dies (killed for memory, a codec crash) breaks the whole pool, and nothing
says which of the songs in flight killed it: each of them is then run again alone, in a
process of its own, so only a song that kills its process alone fails ("worker died"),
and the next songs go to a fresh pool.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import SongError, song_error
from .stages import PreparedSong, SongPreprocessor


def default_workers() -> int:
    """One worker per core this process may use, less one for the main process."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - 1)


class StageWorkers:
    """Runs a `SongPreprocessor`'s per-song CPU work (`decode_mix`, `prepare`) in
    `workers` processes. Each worker has its own preprocessor without a separator: it
    reads separated vocals from the shared cache, so songs must be separated (in this
    process) before they are prepared."""

    def __init__(self, preprocessor: SongPreprocessor, workers: int | None = None):
        self.preprocessor = preprocessor
        self.workers = default_workers() if workers is None else workers
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        self._pool = None  # started on first use: a process with nothing to clean forks nothing

    def _started_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # fork, as torch's data loader does: the workers start at once and share the
            # parent's imports; they never touch the GPU.
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"),
                                             initializer=_start_worker, initargs=self._worker_args())
        return self._pool

    def _worker_args(self) -> tuple:
        preprocessor = self.preprocessor
        return (preprocessor.config, preprocessor.cache_dir, preprocessor.mix_format,
                preprocessor.max_duration_minutes, preprocessor.separator_dtype, preprocessor.scratch_dir)

    def __enter__(self) -> "StageWorkers":
        # The songs' scratch tracks go into a folder of this run's, so none outlives it,
        # even one prepared ahead and never used.
        self._scratch = tempfile.TemporaryDirectory(prefix="singerid-songs-")
        self._scratch_before, self.preprocessor.scratch_dir = self.preprocessor.scratch_dir, Path(self._scratch.name)
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self.preprocessor.scratch_dir = self._scratch_before
        self._scratch.cleanup()

    def mixes(self, paths: Iterable[str | Path], ahead: int) -> Iterator[object]:
        """Each song decoded for the separator, or its `SongError`."""
        return self._ordered("decode_mix", paths, ahead)

    def prepared(self, paths: Iterable[str | Path], ahead: int | None = None,
                 before: Callable[[str | Path], SongError | None] | None = None) -> Iterator[object]:
        """Each song's `PreparedSong`, or its `SongError`. `before(path)` runs here,
        in order, before the song is handed to a worker (separation), and may fail it."""
        return self._ordered("prepare", paths, ahead or 2 * self.workers, before)

    def _ordered(self, method: str, paths, ahead: int, before=None) -> Iterator[object]:
        if self.workers == 1:
            for path in paths:
                failed = before(path) if before else None
                yield failed or _outcome(self.preprocessor, method, path)
            return
        pending: deque = deque()  # (path, its SongError or Future), in input order
        for path in paths:
            failed = before(path) if before else None
            pending.append((path, failed or self._submit(method, path, pending)))
            if len(pending) >= max(1, ahead):
                yield self._collect(method, pending)
        while pending:
            yield self._collect(method, pending)

    def _submit(self, method: str, path, pending: deque) -> Future:
        try:
            return self._started_pool().submit(_run, method, path)
        except BrokenProcessPool:  # a worker died since the last result was collected
            self._recover(method, pending)
            return self._started_pool().submit(_run, method, path)

    def _recover(self, method: str, pending: deque) -> None:
        """After a worker died: drops the broken pool (the next submit starts a fresh one)
        and runs each song it failed again, one at a time, each in a process of its own."""
        self._pool.shutdown()  # waits until the pool has settled every future it held
        self._pool = None
        for index, (path, job) in enumerate(pending):
            if isinstance(job, Future) and isinstance(job.exception(), BrokenProcessPool):
                pending[index] = (path, _done(self._alone(method, path)))

    def _alone(self, method: str, path) -> tuple[object, list[str], dict[str, float]]:
        """`_run` in a process of its own, which only this song can kill."""
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_run_alone, args=(sender, self._worker_args(), method, path))
        process.start()
        sender.close()  # so that its death reads as the end of the pipe
        try:
            return receiver.recv()
        except EOFError:  # it died before it could answer
            process.join()
            return SongError(path, f"worker died: {_death(process.exitcode)}"), [], {}
        except BaseException:  # interrupted here: it must not outlive the run
            process.terminate()
            raise
        finally:
            receiver.close()
            process.join()

    def _collect(self, method: str, pending: deque) -> object:
        path, job = pending[0]
        if isinstance(job, Future) and isinstance(job.exception(), BrokenProcessPool):
            self._recover(method, pending)
        path, job = pending.popleft()
        if isinstance(job, SongError):
            return job
        try:
            result, notes, seconds = job.result()
        except Exception as error:  # the worker could not send the song back
            return song_error(path, error, "worker")
        for stage, spent in seconds.items():
            self.preprocessor.seconds[stage] += spent
        # Notes made here (decoding for the separator) join those the worker made.
        earlier = self.preprocessor.notes.pop(str(path), [])
        if isinstance(result, PreparedSong):
            result.notes = earlier + result.notes
        else:
            self.preprocessor.notes[str(path)] = earlier + notes
        return result


def _done(outcome) -> Future:
    future = Future()
    future.set_result(outcome)
    return future


def _death(exitcode: int | None) -> str:
    """What is known of how a process ended."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by {name}" + (" (out of memory?)" if -exitcode == signal.SIGKILL else "")
    return f"exit code {exitcode}"


def _outcome(preprocessor: SongPreprocessor, method: str, path) -> object:
    """The method's result for one song, or that song's error."""
    try:
        return getattr(preprocessor, method)(path)
    except Exception as error:  # one song's failure, whatever it is, is that song's alone
        return song_error(path, error)


_worker: SongPreprocessor | None = None


def _start_worker(config, cache_dir, mix_format, max_duration_minutes=None, separator_dtype=None,
                  scratch_dir=None) -> None:
    global _worker
    _worker = SongPreprocessor(config, cache_dir=cache_dir, load_separator=False,
                               max_duration_minutes=max_duration_minutes)
    _worker.mix_format, _worker.separator_dtype, _worker.scratch_dir = mix_format, separator_dtype, scratch_dir


def _run(method: str, path) -> tuple[object, list[str], dict[str, float]]:
    """In a worker: the outcome, the notes it made and the seconds it spent per stage."""
    _worker.seconds.clear()
    result = _outcome(_worker, method, path)
    return result, _worker.notes.pop(str(path), []), dict(_worker.seconds)


def _run_alone(sender, worker_args: tuple, method: str, path) -> None:
    """In a process of its own: one song's `_run`, sent back through the pipe."""
    _start_worker(*worker_args)
    sender.send(_run(method, path))
    sender.close()
