"""Helper processes for the numpy engine's chunked pass over the whole training batch.

numpy's element-wise functions and BLAS's small products each take a few microseconds a chunk, and
Python threads hand the interpreter's lock to each other at every call: on two cores, two threads
ran the chunked pass of 200,000 × 2-16-16-1 in 0.85× one thread's time, two processes in 0.62×
(docs/benchmarks.md). So the engine forks helper processes (``Helpers``), on Linux, at its first
run of epochs that repays the forks over a batch with chunks enough (``engines.helpers_for``), and keeps them
until it closes; BLAS stays on one thread meanwhile.

Each helper is a copy of the engine made by ``os.fork``: it holds the training set already, and reads
the weights of each pass from memory shared with the engine (an anonymous shared ``mmap``); it works
its run of the chunks into the chunks' gradient slots and loss terms, in the same shared memory, and
answers with one byte. The engine works the first run itself, then sums the slots in the chunks'
order: the numbers are those of one process, bit for bit. Commands and answers are bytes on pipes
(nothing is pickled). A helper ignores Ctrl-C (the engine's own handler ends the run), and ends when
its command pipe closes; a helper that fails or ends early has its chunks worked by the engine
instead, and is not used again.
"""

from __future__ import annotations

import mmap
import os
import signal
import warnings
import weakref
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import Any

import numpy as np

Array = Any  # numpy.ndarray
NumpyEngine = Any  # numpy_engine.NumpyEngine (which imports this module)

OK = b"\x00"
_OPEN: weakref.WeakSet[Helpers] = weakref.WeakSet()
"""The helpers open in this process: a helper forked later closes their pipes, so that each helper
sees the end of its commands when its own engine closes them; and BLAS is held to one thread from
the first one's forks until the last one closes (``_BLAS``)."""
_BLAS = ExitStack()


class Helpers:
    """``count`` forked copies of ``engine`` that work the later runs of the chunks of each chunked
    pass over its whole batch (the module's docstring); close with ``close``."""

    def __init__(self, engine: NumpyEngine, count: int, chunks: int) -> None:
        dtype = engine.np_dtype
        layers = range(len(engine.network.layers))
        shapes = [value.shape for value in engine.params.values()]
        shapes += [(chunks, *_joined_shape(engine, i)) for i in layers]
        sizes = [int(np.prod(shape)) for shape in shapes]
        itemsize = dtype.itemsize
        # One shared block: the parameters, each layer's gradient slots ([∂W ∂b] a chunk), then the
        # chunks' loss terms in float64.
        self._memory = mmap.mmap(-1, sum(sizes) * itemsize + chunks * 8)
        offset = 0
        views: list[Array] = []
        for size_, shape in zip(sizes, shapes, strict=True):
            views.append(np.frombuffer(self._memory, dtype=dtype, count=size_, offset=offset).reshape(shape))
            offset += size_ * itemsize
        self.params = dict(zip(engine.params, views[:len(engine.params)], strict=True))
        self.slots = views[len(engine.params):]
        self.terms = np.frombuffer(self._memory, dtype=np.float64, count=chunks, offset=offset)
        self.cuts = [chunks * part // (count + 1) for part in range(count + 2)]
        self._children: list[tuple[int, int, int]] = []  # pid, command pipe (write), answer pipe (read)
        engine._columns(engine.X)  # made before the forks, so that every copy shares it
        # BLAS on one thread from before the forks until the last helpers close (``_OPEN``): a fork
        # ends OpenBLAS's idle threads, and setting its threads again starts new ones, which spin
        # for about 0.1 s waiting for work, on the cores the engine and its helpers compute on.
        if not _OPEN:
            _BLAS.enter_context(one_blas_thread())
        _OPEN.add(self)
        with warnings.catch_warnings():
            # Python 3.12+ warns of a fork in a process with threads (BLAS's idle ones here); the
            # helper runs numpy and this module alone, and BLAS reinitialises itself after a fork.
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                for part in range(1, count + 1):
                    self._fork(engine, part)
            except BaseException:  # no fork (a limit on processes, memory), or Ctrl-C: the ones made end
                self.close()
                raise

    def _fork(self, engine: NumpyEngine, part: int) -> None:
        """Fork the helper for run ``part`` of the chunks (the engine is kept by the helper alone: the
        engine's process holds no reference to it here, so that the engine can be collected)."""
        command_read, command_write = os.pipe()
        answer_read, answer_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the helper: serve, then leave without running the engine's exit handlers
            code = 1
            try:
                os.close(command_write)
                os.close(answer_read)
                for helpers in _OPEN:  # this engine's other helpers' pipes, and any other engine's
                    for _, write, read in helpers._children:
                        if write >= 0:
                            os.close(write)
                            os.close(read)
                code = self._serve(engine, part, command_read, answer_write)
            finally:
                os._exit(code)
        os.close(command_read)
        os.close(answer_write)
        self._children.append((pid, command_write, answer_read))

    def _serve(self, engine: NumpyEngine, part: int, commands: int, answers: int) -> int:
        """The helper's loop: for each command (with_loss, backward), its run of the chunks."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        chunks = range(self.cuts[part], self.cuts[part + 1])
        with np.errstate(all="ignore"):  # BLAS is on one thread already (``__init__``)
            while True:
                command = os.read(commands, 2)
                if len(command) < 2:
                    return 0
                for key, value in self.params.items():
                    engine.params[key][...] = value
                engine._chunk_pass(bool(command[0]), bool(command[1]), self).work(chunks)
                os.write(answers, OK)

    def start(self, params: dict[Any, Array], with_loss: bool, backward: bool) -> range:
        """Hand the engine's current ``params`` and a pass's command to every helper; the chunks the
        engine works itself."""
        for key, value in params.items():
            self.params[key][...] = value
        command = bytes([with_loss, backward])
        for index, (_, write, _) in enumerate(self._children):
            if write >= 0 and not _write(write, command):
                self._drop(index)
        return range(self.cuts[0], self.cuts[1])

    def finish(self, pass_: Any) -> None:
        """Wait for every helper's run of the chunks; work the run of any that failed."""
        for index, (_, write, read) in enumerate(self._children):
            answer = _read(read) if write >= 0 else b""
            if answer != OK:
                self._drop(index)
                pass_.work(range(self.cuts[index + 1], self.cuts[index + 2]))

    def _drop(self, index: int) -> None:
        """A helper that failed: ended, its pipes closed, its chunks the engine's from now on."""
        pid, write, read = self._children[index]
        if write < 0:
            return
        self._children[index] = (pid, -1, -1)
        for fd in (write, read):
            os.close(fd)
        _end(pid)

    def close(self) -> None:
        """End every helper: their command pipes closed, each waited for (ended if it does not)."""
        for index in range(len(self._children)):
            self._drop(index)
        self._children = []
        if self in _OPEN:
            _OPEN.discard(self)
            if not _OPEN:
                _BLAS.close()


def one_blas_thread() -> AbstractContextManager[Any]:
    """A context holding BLAS to one thread (threadpoolctl's); none where threadpoolctl is missing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def _joined_shape(engine: NumpyEngine, index: int) -> tuple[int, int]:
    """The shape of layer ``index``'s [W b] (W's where it has no bias)."""
    units, inputs = engine.params[((index,), "weight")].shape
    return units, inputs + (((index,), "bias") in engine.params)


def _write(fd: int, data: bytes) -> bool:
    try:
        return os.write(fd, data) == len(data)
    except OSError:
        return False


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 1)
    except OSError:
        return b""


def _end(pid: int) -> None:
    """Wait for a helper whose command pipe is closed (it ends at once); kill one that is stuck."""
    import time

    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
            time.sleep(0.001)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except ChildProcessError:  # waited for already
        pass
