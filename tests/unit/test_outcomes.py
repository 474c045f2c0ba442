"""Outcomes to exit codes (drsorch.outcomes, design §6)."""

from __future__ import annotations

import pytest

from drsorch import cli
from drsorch.core.statuses import ExecutionStatus
from drsorch.errors import (
    AccessDeniedError,
    CredentialsError,
    DrsorchError,
    LeaseHeldError,
    LeaseLostError,
    PlanError,
    RefusedError,
    ScenarioError,
    StoreDamagedError,
    StoreError,
    ThrottledError,
)
from drsorch.outcomes import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    exit_code_for_error,
    exit_code_for_status,
)
from drsorch.runner import EngineError
from drsorch.store import StoreConfigError

pytestmark = pytest.mark.unit


def test_the_codes_are_those_of_design_section_6() -> None:
    assert (EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL) == (0, 1, 2, 3)


def test_the_cli_re_exports_the_same_codes() -> None:
    assert (cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_BAD_INPUT, cli.EXIT_INTERNAL) == (0, 1, 2, 3)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (ExecutionStatus.COMPLETED, EXIT_OK),
        (ExecutionStatus.FAILED, EXIT_FAILED),
        (ExecutionStatus.CANCELLED, EXIT_FAILED),
        # Not an end a run returns with; were it one, it is not a success.
        (ExecutionStatus.RUNNING, EXIT_FAILED),
        (ExecutionStatus.PAUSED, EXIT_FAILED),
        # A status read back as plain JSON text maps the same way.
        ("COMPLETED", EXIT_OK),
        ("FAILED", EXIT_FAILED),
    ],
)
def test_exit_code_for_status(status: ExecutionStatus | str, code: int) -> None:
    assert exit_code_for_status(status) == code


@pytest.mark.parametrize(
    "error",
    [
        PlanError("bad plan", ["Waves[0].ServerIds: empty"]),
        RefusedError("RECOVERY needs --yes"),
        LeaseHeldError("held", holder="a@b pid 1", expires_at=0.0, expired=False),
        LeaseLostError("lost"),
        ScenarioError("bad scenario"),
        StoreConfigError("bad store URL"),
        StoreDamagedError("damaged file"),
        CredentialsError("expired token"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_bad_input_and_refusals_exit_2(error: DrsorchError) -> None:
    assert exit_code_for_error(error) == EXIT_BAD_INPUT


@pytest.mark.parametrize(
    "error",
    [
        StoreError("disk on fire"),
        EngineError("the engine broke", None),
        AccessDeniedError("no"),
        ThrottledError("slow down"),
        DrsorchError("something of ours"),
        RuntimeError("a bug"),
        KeyError("a bug"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_everything_else_is_ours_and_exits_3(error: Exception) -> None:
    assert exit_code_for_error(error) == EXIT_INTERNAL
