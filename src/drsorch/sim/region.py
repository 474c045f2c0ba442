"""A simulated AWS region running Elastic Disaster Recovery and EC2 (issue 3).

:class:`SimRegion` is the public face of the simulator: it ties a :class:`Clock`, a
:class:`~drsorch.sim.scenario.Scenario` and a seed to the region model, the fault book and
the request recorder. Attach it to a boto3 session (:func:`drsorch.sim.attach`) or serve
it over HTTP (:class:`drsorch.sim.server.SimServer`); either way every request first
brings the model up to ``clock.now()``, so whoever moves the clock moves DRS.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from typing import Any

from drsorch.clock import Clock, VirtualClock
from drsorch.sim.entities import Job
from drsorch.sim.faults import Fault, FaultBook
from drsorch.sim.model import RegionModel, TimelineEntry
from drsorch.sim.recorder import Recorder
from drsorch.sim.scenario import Scenario, ServerSpec
from drsorch.sim.wire import WireResult, dispatch, request_id


class SimRegion:
    """Source servers, jobs and instances of one simulated account and region."""

    def __init__(
        self,
        clock: Clock | None = None,
        scenario: Scenario | None = None,
        seed: int | None = None,
        account_id: str = "123456789012",
        region_name: str = "us-east-1",
    ) -> None:
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.scenario = scenario if scenario is not None else Scenario()
        self.seed = seed if seed is not None else (self.scenario.seed or 0)
        self.account_id = account_id
        self.region_name = region_name
        self.start = self.clock.now()
        self.faults = FaultBook(self.seed, self.start, self.scenario.faults)
        self.recorder = Recorder()
        self.lock = threading.RLock()
        self._requests = itertools.count(1)
        self.model = RegionModel(
            scenario=self.scenario,
            seed=self.seed,
            start=self.start,
            account_id=account_id,
            region_name=region_name,
            faults=self.faults,
        )
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
    ) -> list[str]:
        """Add source servers (ids ``s-`` + 17 alphanumerics); returns their ids."""
        specs = [
            ServerSpec(id=sid, replication_state=replication_state, tags=dict(tags or {}))
            for sid in server_ids
        ]
        with self.lock:
            for spec in specs:
                self.model.add_server(spec)
        return [spec.id for spec in specs]

    def add_source_server(self, spec: ServerSpec) -> str:
        """Add one source server described in full (hostname, tags, timing...)."""
        with self.lock:
            self.model.add_server(spec)
        return spec.id

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
        """Bring the model up to the clock's ``now()`` (every request does this first)."""
        with self.lock:
            self.model.advance(self.clock.now())

    def next_event_time(self) -> float | None:
        """When the region will next change by itself, or None when it is idle."""
        with self.lock:
            return self.model.next_event_time()

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
        """Every status change so far: (time, kind, id, value)."""
        return self.model.timeline

    @property
    def jobs(self) -> list[Job]:
        """All jobs, oldest first."""
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
        return (
            f"SimRegion({self.region_name}, account={self.account_id}, seed={self.seed}, "
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
            }
