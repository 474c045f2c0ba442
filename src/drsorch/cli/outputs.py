"""Files a command writes beside its output (``--html FILE``, ``--junit FILE``).

A path is checked before any work starts (:func:`check_output_file`, which opens it, or
creates and removes it): one that cannot be written (a directory, a missing or read-only
directory, a file system that takes no files such as ``/proc``) is refused as bad input, exit 2,
and ``drsorch run`` launches nothing. The check cannot promise the write (a disk may fill
up meanwhile): :func:`write_output_file` says what failed, in one line, if it does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from drsorch.errors import RefusedError
from drsorch.history import ExecutionRecord
from drsorch.report import build_report, junit_xml
from drsorch.text import printable

__all__ = ["check_output_file", "with_junit", "write_output_file"]

T = TypeVar("T")


def check_output_file(path: str, option: str) -> Path:
    """``path`` as a Path, if a file can be written there; else :class:`RefusedError`
    naming ``option`` (``--junit``) and what is wrong."""
    where = f"{option} {path}"
    if not path.strip():
        raise RefusedError(f"{option}: give a file name")
    if "\x00" in path:  # no file can have this name (Path.exists says False, then open fails)
        raise RefusedError(f"{option}: a file name cannot hold a NUL character")
    try:
        target = Path(path)
        if target.is_dir():
            raise RefusedError(f"{where}: is a directory; give a file name")
        parent = target.parent
        if not parent.is_dir():
            raise RefusedError(f"{where}: the directory {parent} does not exist")
        if target.exists():
            if not os.access(target, os.W_OK):
                raise RefusedError(f"{where}: the file is not writable")
            # Opened, left as it was; O_NONBLOCK: a FIFO with no reader is refused (ENXIO),
            # not waited on for ever.
            os.close(os.open(target, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK))
        elif not os.access(parent, os.W_OK | os.X_OK):
            raise RefusedError(f"{where}: cannot create a file in {parent} (permission denied)")
        else:  # access() cannot know every file system (/proc, read-only mounts): try it
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            target.unlink()
    except OSError as exc:  # a name too long, a path the system cannot look at
        raise RefusedError(f"{where}: cannot be written: {_reason(exc)}") from None
    return target


def write_output_file(target: Path, data: bytes, option: str) -> None:
    """Write ``data`` to ``target``; :class:`RefusedError` (one line) if that fails."""
    try:
        target.write_bytes(data)
    except (OSError, ValueError) as exc:
        raise RefusedError(f"{option} {target}: could not be written: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def with_junit(
    start: Callable[[T], ExecutionRecord], target: Path
) -> Callable[[T], ExecutionRecord]:
    """``start`` (what runs an execution to its end and returns its record), then the
    record written to ``target`` as JUnit XML (``run --junit``). A write that fails after
    the run is said on stderr, in one line: the execution's own outcome (and exit code)
    stands, and ``drsorch report ID --junit FILE`` writes the file again from the store."""

    def run(driver: T) -> ExecutionRecord:
        record = start(driver)
        try:
            write_output_file(target, junit_xml(build_report(record)), "--junit")
        except RefusedError as exc:
            click.echo(
                printable(
                    f"error: {exc}; the execution is recorded: `drsorch report "
                    f"{record.ExecutionId} --junit FILE` writes it"
                ),
                err=True,
            )
        return record

    return run
