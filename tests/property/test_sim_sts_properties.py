"""Properties of the simulator's STS (issue 8, point 2), through boto3 in-process:

- role credentials work exactly until their ``Expiration`` on the simulated clock, and are
  refused (ExpiredTokenException) from then on, whatever the start time and duration;
- a RoleSessionName is accepted exactly when STS's pattern accepts it (2 to 64 ASCII
  characters of ``[\\w+=,.@-]``), and an accepted one comes back intact in the ARN through
  form encoding and XML (``+``, ``=``, ``,``, ``@`` included).
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from drsorch.clock import VirtualClock
from drsorch.sim import Scenario, SimRegion
from drsorch.sim.testing import clients, sts_client

pytestmark = pytest.mark.property

DR = "222222222222"
ROLE = f"arn:aws:iam::{DR}:role/DrsOrchestratorRole"
SCENARIO = Scenario.from_yaml(
    f"""
accounts: [{{id: "111111111111"}}, {{id: "{DR}"}}]
roles:
  - arn: {ROLE}
    trust: {{accounts: ["111111111111"]}}
    max_session_seconds: 43200
servers_account: "{DR}"
generate_servers: 1
"""
)
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)

_clock = VirtualClock(start=0.0)
_region = SimRegion(clock=_clock, scenario=SCENARIO)
_sts = sts_client(_region)


@settings(max_examples=30, deadline=None)
@given(
    start=st.floats(0, 4e9, allow_nan=False),
    duration=st.integers(900, 43200),
    before=st.floats(0, 1, exclude_max=True),
    after=st.floats(0, 86400),
)
def test_role_credentials_expire_exactly_at_their_expiration(
    start: float, duration: int, before: float, after: float
) -> None:
    clock = VirtualClock(start=start)
    region = SimRegion(clock=clock, scenario=SCENARIO)
    creds = sts_client(region).assume_role(
        RoleArn=ROLE, RoleSessionName="p1", DurationSeconds=duration
    )["Credentials"]
    expires = creds["Expiration"].timestamp()
    assert start + duration - 1 < expires <= start + duration
    drs, _ = clients(region, credentials=creds)
    # the last representable instant before expiry at most (rounding may reach it)
    clock.advance_to(min(start + before * (expires - start), math.nextafter(expires, 0.0)))
    assert len(drs.describe_source_servers()["items"]) == 1
    clock.advance_to(expires + after)
    with pytest.raises(ClientError) as caught:
        drs.describe_source_servers()
    assert caught.value.response["Error"]["Code"] == "ExpiredTokenException"


names = st.one_of(
    st.text(alphabet=st.sampled_from("aZ09_+=,.@-"), min_size=2, max_size=70),
    st.text(min_size=2, max_size=70),
)


@settings(max_examples=60, deadline=None)
@given(name=names)
def test_session_names_are_accepted_exactly_when_sts_accepts_them(name: str) -> None:
    try:
        answer: dict[str, Any] = _sts.assume_role(RoleArn=ROLE, RoleSessionName=name)
    except ClientError as exc:
        assert not SESSION_NAME.fullmatch(name)
        assert exc.response["Error"]["Code"] == "ValidationError"
        assert "'roleSessionName'" in exc.response["Error"]["Message"]
        return
    assert SESSION_NAME.fullmatch(name)
    arn = answer["AssumedRoleUser"]["Arn"]
    assert arn == f"arn:aws:sts::{DR}:assumed-role/DrsOrchestratorRole/{name}"
    me = sts_client(_region, credentials=answer["Credentials"]).get_caller_identity()
    assert me["Arn"] == arn and me["UserId"].endswith(":" + name)
