"""The signals that stop drsorch's work, and how a command takes them over.

Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal or ssh session went away) all stop a run
or a clean-up the same way; left to its default, SIGHUP would kill the engine without a
word, its record RUNNING for ever. A signal ignored when drsorch started stays ignored:
``nohup drsorch run ...`` means the run must outlive its terminal, and a script's
background job ignores Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

__all__ = ["STOP_SIGNALS", "interrupt", "restore", "stop_at_once", "take_over"]

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM) + (
    (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
)

Handler = Callable[[int, FrameType | None], Any]


def take_over(handler: Handler, handled: dict[signal.Signals, Any]) -> None:
    """Send every stop signal not ignored at start to ``handler``, recording in
    ``handled`` (filled in place, so a handler may read it at once) what each had."""
    for signum in STOP_SIGNALS:
        if signum in handled or signal.getsignal(signum) is not signal.SIG_IGN:
            handled.setdefault(signum, signal.getsignal(signum))
            signal.signal(signum, handler)


def restore(handled: dict[signal.Signals, Any]) -> None:
    """Give the signals of ``handled`` back the handlers they had."""
    for signum, previous in handled.items():
        signal.signal(signum, previous)


def interrupt(signum: int, frame: FrameType | None) -> None:
    """A handler that stops what runs at once: KeyboardInterrupt, whatever the signal."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_at_once() -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP stops what runs here at once (KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {}
    take_over(interrupt, previous)
    try:
        yield
    finally:
        restore(previous)
