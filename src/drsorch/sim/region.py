"""A simulated AWS region running Elastic Disaster Recovery and EC2 (issue 3).

:class:`SimRegion` is the public face of the simulator: it ties a :class:`Clock`, a
:class:`~drsorch.sim.scenario.Scenario` and a seed to the region model, the fault book and
the request recorder. Attach it to a boto3 session (:func:`drsorch.sim.attach`) or serve
it over HTTP (:class:`drsorch.sim.server.SimServer`); either way every request first
brings the model up to ``clock.now()``, so whoever moves the clock moves DRS.

A scenario may declare several accounts (issue 8): each has its own DRS and EC2 state (a
:class:`RegionModel` in :attr:`SimRegion.models`), calls are answered in the account whose
credentials signed them (:attr:`SimRegion.directory`), and STS hands out role credentials
between them. :attr:`SimRegion.model` is the account that holds the scenario's servers.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from typing import Any

from drsorch.clock import Clock, VirtualClock
from drsorch.sim.accounts import Directory
from drsorch.sim.entities import Job
from drsorch.sim.faults import Fault, FaultBook
from drsorch.sim.model import RegionModel, TimelineEntry
from drsorch.sim.recorder import Recorder
from drsorch.sim.scenario import Scenario, ServerSpec
from drsorch.sim.timing import stable_rng
from drsorch.sim.wire import WireResult, dispatch, request_id


class SimRegion:
    """Source servers, jobs and instances of the simulated accounts of one region."""

    def __init__(
        self,
        clock: Clock | None = None,
        scenario: Scenario | None = None,
        seed: int | None = None,
        account_id: str | None = None,
        region_name: str = "us-east-1",
    ) -> None:
        """``account_id``: the account holding the source servers. Without accounts in the
        scenario it is the only account (default ``123456789012``); with them it must be
        one of them (default: the scenario's ``servers_account``, else the first)."""
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.scenario = scenario if scenario is not None else Scenario()
        self.seed = seed if seed is not None else (self.scenario.seed or 0)
        self.directory = Directory(self.scenario, account_id, self.seed)
        # A region served at --speed tells HTTP clients (which keep real time) when their
        # credentials expire in real time, so they refresh them when the region expects.
        self.directory.reported_time = getattr(self.clock, "real_time_of", lambda t: t)
        self.account_id = self.directory.servers_account
        self.region_name = region_name
        self.start = self.clock.now()
        self.faults = FaultBook(self.seed, self.start, self.scenario.faults)
        self.recorder = Recorder()
        self.lock = threading.RLock()
        self._requests = itertools.count(1)
        #: every account's DRS + EC2 state; the servers account keeps the region's seed
        self.models: dict[str, RegionModel] = {}
        for account in self.directory.account_ids:
            own = account == self.account_id
            seed = self.seed if own else stable_rng(self.seed, "account", account).getrandbits(63)
            self.models[account] = RegionModel(
                scenario=self.scenario,
                seed=seed,
                start=self.start,
                account_id=account,
                region_name=region_name,
                faults=self.faults,
            )
        self.model = self.models[self.account_id]
        for spec in self.scenario.source_servers:
            self.model.add_server(spec)
        if self.scenario.generate_servers:
            self.add_source_servers(self.model.generated_ids(self.scenario.generate_servers))

    # --- servers ----------------------------------------------------------------------

    def add_source_servers(
        self,
        server_ids: Iterable[str],
        replication_state: str = "CONTINUOUS",
        tags: dict[str, str] | None = None,
        *,
        account_id: str | None = None,
    ) -> list[str]:
        """Add source servers (ids ``s-`` + 17 alphanumerics) to the servers account, or
        to ``account_id``; returns their ids."""
        model = self.account(account_id)
        specs = [
            ServerSpec(id=sid, replication_state=replication_state, tags=dict(tags or {}))
            for sid in server_ids
        ]
        with self.lock:
            for spec in specs:
                model.add_server(spec)
        return [spec.id for spec in specs]

    def add_source_server(self, spec: ServerSpec, *, account_id: str | None = None) -> str:
        """Add one source server described in full (hostname, tags, timing...)."""
        model = self.account(account_id)
        with self.lock:
            model.add_server(spec)
        return spec.id

    def account(self, account_id: str | None = None) -> RegionModel:
        """The DRS + EC2 state of one account (default: the servers account)."""
        if account_id is None:
            return self.model
        try:
            return self.models[account_id]
        except KeyError:
            raise KeyError(
                f"account {account_id} is not simulated (accounts: {', '.join(self.models)})"
            ) from None

    @property
    def account_ids(self) -> list[str]:
        """Every simulated account; the first is the caller's (see docs/simulator.md)."""
        return list(self.models)

    def generate_source_servers(self, count: int) -> list[str]:
        """Add ``count`` source servers with seeded ids; returns the ids."""
        return self.add_source_servers(self.model.generated_ids(count, f"extra-{count}"))

    def set_replication_state(self, server_id: str, state: str) -> None:
        """Change a server's replication state (e.g. to STALLED or DISCONNECTED)."""
        with self.lock:
            server = self.model.servers[server_id]
            spec = ServerSpec(
                id=server.id,
                hostname=server.hostname,
                tags=server.tags,
                replication_state=state,
                instance_type=server.instance_type,
            )
            timing = server.timing
            self.model.add_server(spec).timing = timing

    @property
    def source_server_ids(self) -> list[str]:
        return list(self.model.servers)

    # --- time -------------------------------------------------------------------------

    def sync(self) -> None:
        """Bring every account up to the clock's ``now()`` (every request does this first)."""
        with self.lock:
            self.advance(self.clock.now())

    def advance(self, now: float) -> None:
        """Apply every transition due by ``now`` in every account (hold :attr:`lock`)."""
        for model in self.models.values():
            model.advance(now)

    def next_event_time(self) -> float | None:
        """When the region will next change by itself, or None when it is idle."""
        with self.lock:
            due = [t for m in self.models.values() if (t := m.next_event_time()) is not None]
            return min(due) if due else None

    def run_until_idle(self, limit: float | None = None) -> float:
        """With a :class:`VirtualClock`: jump from change to change until the region is
        idle (or ``limit`` is reached); returns the clock's time."""
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            raise TypeError("run_until_idle needs a VirtualClock")
        while (due := self.next_event_time()) is not None:
            if limit is not None and due > limit:
                clock.advance_to(limit)
                break
            clock.advance_to(max(due, clock.now()))
            self.sync()
        return clock.now()

    # --- introspection ----------------------------------------------------------------

    @property
    def timeline(self) -> list[TimelineEntry]:
        """Every status change so far in the servers account: (time, kind, id, value)."""
        return self.model.timeline

    @property
    def jobs(self) -> list[Job]:
        """All jobs of the servers account, oldest first."""
        return sorted(self.model.jobs.values(), key=lambda j: j.seq)

    def add_fault(self, fault: Fault) -> Fault:
        """Same as ``region.faults.add(fault)``."""
        return self.faults.add(fault)

    # --- wire -------------------------------------------------------------------------

    def next_request_id(self) -> str:
        return request_id(self.seed, next(self._requests))

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> WireResult:
        """Answer one HTTP request (what the HTTP server and the in-process hook call)."""
        return dispatch(self, method, path, headers, body)

    def __repr__(self) -> str:
        others = len(self.models) - 1
        more = f" (+{others} more)" if others else ""
        return (
            f"SimRegion({self.region_name}, account={self.account_id}{more}, seed={self.seed}, "
            f"servers={len(self.model.servers)}, jobs={len(self.model.jobs)})"
        )

    def summary(self) -> dict[str, Any]:
        """Counts for a status line or a benchmark report."""
        with self.lock:
            m = self.model
            return {
                "source_servers": len(m.servers),
                "jobs": len(m.jobs),
                "active_jobs": m.active_job_count,
                "recovery_instances": len(m.recovery_instances),
                "ec2_instances": len(m.instances),
                "calls": len(self.recorder.calls),
                "accounts": len(self.models),
            }
