"""Output that never stops a run (issue 11, item 2): only signals do.

``drsorch run plan.yaml | head -2`` closes the pipe after two lines. Writing on would raise
``BrokenPipeError`` in the live view, in a warning or in the final summary, and the engine
would stop halfway through a drill. :func:`guard_std_streams` replaces ``sys.stdout`` and
``sys.stderr`` by :class:`DroppingStream` wrappers: the first write that finds its reader
gone points the file descriptor at ``/dev/null`` (so nothing buffered fails again, not even
at interpreter exit) and every later write is dropped without a word, since nobody reads.
A stream that takes no more (a full disk, ``/dev/full``) is dropped the same way during a
run, said once on stderr. Any other command whose output cannot be written ends with one
clear line and exit 2 (:func:`unwritable`, :func:`drop_stdout`), never a traceback; one
whose reader left (``drsorch validate *.yaml | head -1``) ends with its own exit code, as
if the rest had been read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Any, TextIO

__all__ = ["DroppingStream", "drop_stdout", "guard_std_streams", "unwritable"]

#: errno values meaning "the reader is gone" (EPIPE) or the stream is no more (EBADF...).
_GONE = frozenset({errno.EPIPE, errno.EBADF, errno.ECONNRESET, errno.EINVAL})
#: errno values of a stream that takes no more: a full disk or ``/dev/full``, a file too
#: big, an I/O error of the device.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def unwritable(exc: BaseException) -> bool:
    """Whether ``exc`` says an output stream takes no more (full, or failing)."""
    return isinstance(exc, OSError) and exc.errno in _FULL


def drop_stdout() -> None:
    """Send standard output nowhere from now on, so what is still buffered does not fail
    again (and print a traceback) when the interpreter exits."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
        finally:
            os.close(devnull)


class DroppingStream:
    """A text stream that drops what it cannot write once its reader has gone; one that
    takes no more (full) is dropped too when ``on_full`` is given, else its error raised."""

    def __init__(self, stream: TextIO, on_full: Any = None) -> None:
        self._stream = stream
        self.closed_by_reader = False
        #: Called once with the error when the stream takes no more (a full disk): what
        #: follows is dropped as for a reader gone, and a run goes on.
        self.on_full = on_full

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
            full = exc.errno in _FULL
            if (exc.errno not in _GONE and not full) or (full and self.on_full is None):
                raise  # a full stream ends a command that has no use for going on
            self._gone()
            if full:
                with contextlib.suppress(Exception):
                    self.on_full(exc)
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


def _warn_dropped(exc: OSError) -> None:
    sys.stderr.write(
        f"warning: standard output could not be written ({exc.strerror}): the rest of it "
        "is dropped; the execution goes on and is recorded in the store\n"
    )


def _say_nothing(exc: OSError) -> None:
    """A full stderr: there is nowhere left to say it."""


def guard_std_streams(*, full_goes_on: bool = True) -> tuple[DroppingStream, DroppingStream]:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (once: wrapping again is harmless).

    A reader gone is always dropped without a word. A stream that takes no more (a full
    disk) is dropped too when ``full_goes_on`` (a run, said once on stderr); otherwise its
    error is raised, and the command ends with one line and exit 2 (``drsorch`` wraps the
    streams this way for every command before it runs one)."""
    guarded = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:  # started with the descriptor closed: nothing is ever read
            stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
        if not isinstance(stream, DroppingStream):
            stream = DroppingStream(stream)
            setattr(sys, name, stream)
        if full_goes_on:
            stream.on_full = _warn_dropped if name == "stdout" else _say_nothing
        guarded.append(stream)
    return guarded[0], guarded[1]
