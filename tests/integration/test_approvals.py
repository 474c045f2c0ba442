"""Approvals that don't stop the world (issue 11, item 1), on the in-process simulator and
the virtual clock.

A PauseBefore wave waits in PAUSED while every other branch goes on; an approval (or a
cancel) comes through the store, as ``drsorch approve`` / ``drsorch cancel`` leave it;
the record says who approved and when; an approval has its own timeout, after which the
wave is CANCELLED and its dependents SKIPPED; time spent waiting is not counted against
TimeoutSeconds. The CLI refuses at start a plan nobody could approve.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from tests.utils.engine import FAST_TIMING

from drsorch.cli import main
from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.core.state import State
from drsorch.history import ExecutionRecord
from drsorch.plan import parse_plan
from drsorch.runner import Runner
from drsorch.sim import Scenario
from drsorch.store import MemoryStore, SqliteStore
from drsorch.wiring import simulated

pytestmark = pytest.mark.integration

SERVERS = [f"s-{i:017x}" for i in range(1, 5)]


def dag_plan(**extra: Any) -> dict[str, Any]:
    """Wave 1, then two branches: wave 2 (PauseBefore) -> wave 4, and wave 3."""
    return {
        "PlanId": "approvals",
        "PlanName": "Approvals",
        "TimeoutSeconds": 3 * 3600,
        "Defaults": {"HealthCheck": {"Enabled": False}},
        "Waves": [
            {"WaveNumber": 1, "ServerIds": [SERVERS[0]]},
            {"WaveNumber": 2, "ServerIds": [SERVERS[1]], "Dependencies": [1], "PauseBefore": True},
            {"WaveNumber": 3, "ServerIds": [SERVERS[2]], "Dependencies": [1]},
            {"WaveNumber": 4, "ServerIds": [SERVERS[3]], "Dependencies": [2]},
        ],
        **extra,
    }


class OperatorStore(MemoryStore):
    """A store another terminal writes to: once wave 2 has waited ``after`` seconds (of the
    engine's clock), ``request`` is there to be taken, as ``drsorch approve`` / ``drsorch
    cancel`` leave it; the engine asks for requests at every step and sleep slice."""

    def __init__(self, clock: VirtualClock, request: dict[str, Any] | None, after: float) -> None:
        super().__init__()
        self.clock, self.request, self.after = clock, request, after
        self.paused_at: float | None = None

    def update(self, state: State) -> None:  # the runner's observer: when wave 2 paused
        if state["waves"][1]["status"] == "PAUSED" and self.paused_at is None:
            self.paused_at = self.clock.now()

    def take_requests(self, execution_id: str) -> list[dict[str, Any]]:
        waited = None if self.paused_at is None else self.clock.now() - self.paused_at
        if self.request is not None and waited is not None and waited >= self.after:
            self.add_request(execution_id, self.request)
            self.request = None
        return super().take_requests(execution_id)


def run(
    plan_data: dict[str, Any], request: dict[str, Any] | None, after: float
) -> tuple[ExecutionRecord, OperatorStore]:
    plan = parse_plan(plan_data)
    clock = VirtualClock(start=DEFAULT_EPOCH)
    world = simulated(plan, clock=clock, scenario=Scenario(timing=FAST_TIMING))
    store = OperatorStore(clock, request, after)
    runner = Runner(
        drs=world.drs,
        ec2=world.ec2,
        store=store,
        clock=clock,
        observer=store,
        approve=lambda wave: None,  # nobody at a prompt: the approval comes from elsewhere
    )
    return runner.run(plan, world.options), store


def waves(record: ExecutionRecord) -> dict[int, Any]:
    return {w.WaveNumber: w for w in record.WaveStatus}


def test_a_paused_wave_waits_while_the_other_branch_runs_and_is_approved_through_the_store() -> (
    None
):
    record, operator = run(dag_plan(), {"kind": "approve", "wave": 2, "by": "alice"}, 5 * 3600)
    assert record.Status == "COMPLETED", record.Errors
    w = waves(record)
    assert operator.paused_at is not None
    # the other branch did not wait for the approval
    assert w[3].Status == "COMPLETED" and w[3].EndTime is not None
    assert w[2].StartTime is not None and w[3].EndTime < w[2].StartTime
    # who and when, in the record; the approval came 5 h into the wait
    assert w[2].ApprovedBy == "alice"
    assert w[2].ApprovedTime is not None
    assert w[2].ApprovedTime - operator.paused_at == pytest.approx(5 * 3600, abs=60)
    # 5 h of waiting did not count against the 3 h TimeoutSeconds
    assert record.Duration is not None and record.Duration > 5 * 3600


def test_an_approval_that_never_comes_cancels_the_wave_and_skips_its_dependents() -> None:
    record, operator = run(dag_plan(ApprovalTimeoutSeconds=3600), None, 0)
    w = waves(record)
    assert w[2].Status == "CANCELLED" and w[4].Status == "SKIPPED"
    assert w[3].Status == "COMPLETED"
    assert operator.paused_at is not None and w[2].EndTime is not None
    assert w[2].EndTime - operator.paused_at == pytest.approx(3600, abs=1)
    assert any("not approved within 3600 s" in e.Message for e in record.Errors)
    assert record.Status != "COMPLETED"


def test_a_cancel_through_the_store_cancels_gracefully() -> None:
    record, _ = run(dag_plan(), {"kind": "cancel", "by": "bob"}, 600)
    assert record.Status == "CANCELLED"
    assert any("cancelled by bob" in e.Message for e in record.Errors)
    assert waves(record)[2].Status == "CANCELLED"


# -- the command line ----------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result


def test_run_refuses_at_start_a_plan_nobody_could_approve(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(dag_plan()))
    store = tmp_path / "h.db"
    refused = invoke("run", str(plan), "--store", str(store))  # virtual time, no terminal
    assert refused.exit_code == 2
    assert "nobody can give it" in refused.stderr and "--approve-all" in refused.stderr
    with SqliteStore(store) as history:
        assert history.query() == []  # nothing was run or recorded
    done = invoke("run", str(plan), "--approve-all", "--json", "--store", str(store))
    assert done.exit_code == 0, done.stderr
    with SqliteStore(store) as history:
        [record] = history.query()
    approved = waves(record)[2]
    assert approved.ApprovedBy is not None and "--approve-all" in approved.ApprovedBy


def test_approve_and_cancel_leave_requests_for_a_paused_execution(tmp_path: Path) -> None:
    store_path = tmp_path / "h.db"
    record, _ = run(dag_plan(), None, 0)  # a finished record, to shape a paused one from
    data = record.to_dict()
    data.update(Status="PAUSED", EndTime=None, Duration=None, FailedServerCount=None)
    for wave in data["WaveStatus"]:
        wave.update(Status="PAUSED" if wave["WaveNumber"] == 2 else "COMPLETED")
    paused = ExecutionRecord.from_dict(data)
    with SqliteStore(store_path) as store:
        store.put(paused)
    execution = paused.ExecutionId
    ok = invoke("approve", execution[:8], "--wave", "2", "--store", str(store_path))
    assert ok.exit_code == 0, ok.stderr
    assert "approval of wave 2 sent" in ok.stdout and "drsorch resume" in ok.stdout
    for args, message in [
        (("--wave", "3"), "is COMPLETED, not waiting"),
        (("--wave", "9"), "has no wave 9"),
    ]:
        refused = invoke("approve", execution, *args, "--store", str(store_path))
        assert refused.exit_code == 2 and message in refused.stderr
    assert invoke("cancel", execution, "--store", str(store_path)).exit_code == 0
    with SqliteStore(store_path) as store:
        requests = store.take_requests(execution)
        assert [r["kind"] for r in requests] == ["approve", "cancel"]
        assert requests[0]["wave"] == 2
        assert store.take_requests(execution) == []  # each is taken once
        store.put(record)  # the execution ended
    ended = invoke("cancel", execution, "--store", str(store_path))
    assert ended.exit_code == 2 and "already ended" in ended.stderr
