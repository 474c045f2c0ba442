"""The ``drsorch`` command (design §6).

One click group; each sub-module registers its commands on it, so the command line grows by
adding a module. Exit codes: 0 COMPLETED / valid, 1 FAILED or CANCELLED, 2 bad input or a
refused request, 3 the engine itself broke; :mod:`drsorch.outcomes` owns them and decides
which one an outcome gets (the ``EXIT_*`` names here are re-exports).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
from typing import Any

import click

from drsorch import __version__
from drsorch.cli.streams import drop_stdout, guard_std_streams, unwritable
from drsorch.outcomes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERNAL, EXIT_OK

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERNAL", "EXIT_OK", "entry", "main", "tune_gc"]

#: Allocations between two young-generation collections (CPython's default is 700). An
#: engine allocates millions of short-lived objects that reference counting frees, and
#: almost no cycles: collecting every 700 allocations cost about 6 % of a 10 000-server
#: run's CPU (bench/bench_history.py), for nothing found.
GC_YOUNG_THRESHOLD = 50_000

_COMMAND_MODULES = (
    "validate",
    "run",
    "history",
    "sim",
    "cleanup",
    "report",
    "store",
    "control",
    "estimate",
    "deploy",
)


class _OneLineUsageError(click.UsageError):
    """A usage error said in one line on stderr, with where to read more (click's own
    is four: the usage, a hint, a blank line and the error)."""

    def __init__(self, message: str, ctx: click.Context | None, path: str) -> None:
        super().__init__(message, ctx)
        self.path = path

    def show(self, file: Any = None) -> None:
        hint = f" (see '{self.path} --help')" if self.path else ""
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"error: {self.format_message().rstrip('.')}{hint}\n")


def _one_line(exc: click.UsageError, path: str) -> click.UsageError:
    """``exc`` said in one line; ``path`` names the command when the error does not (the
    option parser raises some without their context: "Option '--plan' requires...")."""
    if isinstance(exc, _OneLineUsageError | click.exceptions.NoArgsIsHelpError):
        return exc  # already one line, or a bare command that shows its help
    where = exc.ctx.command_path if exc.ctx is not None else path
    return _OneLineUsageError(exc.format_message(), exc.ctx, where)


class _Drsorch(click.Group):
    """The group: an output that takes no more (stdout on a full disk or ``/dev/full``)
    ends any command, ``--help`` and ``--version`` included, with one line and exit 2; an
    output whose reader left is dropped and the command's exit code kept."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # A reader that left (``| head -1``) is not a failure of the command: what it did
        # not read is dropped, and the exit code stays the command's own (click alone
        # would end with exit 1, which here means FAILED).
        guard_std_streams(full_goes_on=False)
        try:
            return super().main(*args, **kwargs)
        except OSError as exc:
            if not unwritable(exc) or os.environ.get("DRSORCH_DEBUG"):
                raise
            drop_stdout()
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"error: the output could not be written: {exc.strerror or exc}\n")
            sys.exit(EXIT_BAD_INPUT)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:  # drsorch's own options: --bogus
            raise _one_line(exc, "drsorch") from None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta["drsorch.command"] = name  # for the hint of an error without its context
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a command unknown, or its options and arguments
            name = ctx.meta.get("drsorch.command")
            path = f"{ctx.command_path} {name}" if name else ctx.command_path
            raise _one_line(exc, path) from None


@click.group(cls=_Drsorch, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drsorch")
def main() -> None:
    """Run disaster-recovery plans on AWS Elastic Disaster Recovery (simulated by default)."""


for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"drsorch.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command module not written yet
        if exc.name != f"drsorch.cli.{_name}":
            raise


def tune_gc() -> None:
    """Collect cycles less often: this process is one command, not a server."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def entry() -> None:
    """The ``drsorch`` console script: :data:`main` in a process tuned for it. (Tests call
    ``main`` itself, so the test process keeps Python's own collector settings.)"""
    tune_gc()
    main()
