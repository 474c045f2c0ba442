"""A simulated AWS region running Elastic Disaster Recovery and EC2, with STS
(GetCallerIdentity, AssumeRole) across the accounts a scenario declares.

Real boto3 clients talk to it in-process (:func:`attach`) or over HTTP
(``drsorch sim serve``), on a virtual clock, with seeded timings and scripted faults::

    from drsorch.clock import VirtualClock
    from drsorch.sim import SimRegion, Scenario, attach

    clock = VirtualClock()
    region = SimRegion(clock=clock, scenario=Scenario.from_file("drill.yaml"), seed=0)
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x",
                            region_name="us-east-1")
    attach(session, region)
    drs = session.client("drs")
"""

from __future__ import annotations

from typing import Any

from drsorch.sim.faults import Fault, FaultBook, FaultKind
from drsorch.sim.recorder import RecordedCall, Recorder
from drsorch.sim.region import SimRegion
from drsorch.sim.scenario import Quotas, Scenario, ServerSpec
from drsorch.sim.timing import Span, Timing, TimingOverrides
from drsorch.sim.wire import attach, detach

__all__ = [
    "Fault",
    "FaultBook",
    "FaultKind",
    "Quotas",
    "RecordedCall",
    "Recorder",
    "Scenario",
    "ServerSpec",
    "SimRegion",
    "Span",
    "Timing",
    "TimingOverrides",
    "attach",
    "detach",
    "sim_session",
]


def sim_session(region: SimRegion, region_name: str | None = None) -> Any:
    """A boto3 Session with placeholder credentials, attached to ``region``."""
    import boto3

    session = boto3.Session(
        aws_access_key_id="AKIASIMULATOR0000000",
        aws_secret_access_key="simulator-secret",
        aws_session_token="simulator-token",
        region_name=region_name or region.region_name,
    )
    attach(session, region)
    return session
