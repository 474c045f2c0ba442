"""Output that never stops a run (issue 11, item 2): only signals do.

``drsorch run plan.yaml | head -2`` closes the pipe after two lines. Writing on would raise
``BrokenPipeError`` in the live view, in a warning or in the final summary, and the engine
would stop halfway through a drill. :func:`guard_std_streams` replaces ``sys.stdout`` and
``sys.stderr`` by :class:`DroppingStream` wrappers: the first write that finds its reader
gone points the file descriptor at ``/dev/null`` (so nothing buffered fails again, not even
at interpreter exit) and every later write is dropped without a word, since nobody reads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Any, TextIO

__all__ = ["DroppingStream", "guard_std_streams"]

#: errno values meaning "the reader is gone" (EPIPE) or the stream is no more (EBADF...).
_GONE = frozenset({errno.EPIPE, errno.EBADF, errno.ECONNRESET, errno.EINVAL})


class DroppingStream:
    """A text stream that drops what it cannot write once its reader has gone."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.closed_by_reader = False

    @property
    def wrapped(self) -> TextIO:
        return self._stream

    def _gone(self) -> None:
        """The reader went away: send what is still buffered, and all to come, nowhere."""
        self.closed_by_reader = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            fd = self._stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, fd)
            finally:
                os.close(devnull)

    def _guarded(self, action: Any, *args: Any) -> Any:
        if self.closed_by_reader:
            return None
        try:
            return action(*args)
        except BrokenPipeError:
            self._gone()
        except OSError as exc:
            if exc.errno not in _GONE:
                raise
            self._gone()
        except ValueError:  # "I/O operation on closed file": the stream itself was closed
            if not getattr(self._stream, "closed", False):
                raise
            self.closed_by_reader = True
        return None

    def write(self, text: str) -> int:
        self._guarded(self._stream.write, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._guarded(self._stream.flush)

    def isatty(self) -> bool:
        if self.closed_by_reader:
            return False
        try:
            return self._stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> Any:  # encoding, errors, fileno, buffer, ...
        return getattr(self._stream, name)


def guard_std_streams() -> tuple[DroppingStream, DroppingStream]:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (once: wrapping again is harmless)."""
    guarded = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:  # started with the descriptor closed: nothing is ever read
            stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
        if not isinstance(stream, DroppingStream):
            stream = DroppingStream(stream)
            setattr(sys, name, stream)
        guarded.append(stream)
    return guarded[0], guarded[1]
