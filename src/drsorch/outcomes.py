"""How an outcome ends a command: the exit codes of design §6, decided below the CLI.

This module owns the mapping from what happened to the process exit code, so that every
command, and any later driver or report, answers the same way:

- an execution's final status -> :func:`exit_code_for_status` (0 COMPLETED, 1 otherwise);
- an error -> :func:`exit_code_for_error` (2 the operator's input or a refused request,
  3 something of ours broke).

It imports no click and no rich: ``drsorch.cli`` turns these codes into ``SystemExit``,
and :mod:`drsorch.cli.render` only renders.
"""

from __future__ import annotations

from drsorch.core.statuses import ExecutionStatus
from drsorch.errors import (
    CredentialsError,
    DrsorchError,
    PlanError,
    RefusedError,
    ScenarioError,
    StoreDamagedError,
)
from drsorch.store.base import StoreConfigError

__all__ = [
    "BAD_INPUT_ERRORS",
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "exit_code_for_error",
    "exit_code_for_status",
]

#: The execution COMPLETED (``drsorch validate``: every plan is valid).
EXIT_OK = 0
#: The execution ended FAILED or CANCELLED.
EXIT_FAILED = 1
#: Bad input or a refused request: an invalid plan, a RECOVERY without confirmation...
EXIT_BAD_INPUT = 2
#: The engine itself broke (a bug of ours, or a store that failed).
EXIT_INTERNAL = 3

#: Errors that are the operator's input or environment: a plan, scenario or store URL that
#: cannot be used, a damaged store file, a refused request, AWS credentials or a profile
#: that do not work.
BAD_INPUT_ERRORS: tuple[type[DrsorchError], ...] = (
    PlanError,
    RefusedError,
    ScenarioError,
    StoreConfigError,
    StoreDamagedError,
    CredentialsError,
)


def exit_code_for_error(error: BaseException) -> int:
    """2 for bad input or a refused request, 3 for anything else: every other error, ours
    or not, means something of ours broke (design §6)."""
    if isinstance(error, BAD_INPUT_ERRORS):
        return EXIT_BAD_INPUT
    return EXIT_INTERNAL


def exit_code_for_status(status: ExecutionStatus | str) -> int:
    """0 when the execution COMPLETED, 1 for any other status it ended with."""
    return EXIT_OK if status == ExecutionStatus.COMPLETED else EXIT_FAILED
