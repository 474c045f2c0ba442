"""The scenario file of the simulated region (issue 3, point 9; documented in docs/simulator.md).

A scenario says which source servers exist, how long things take, which quotas apply and
which faults to inject. It is YAML (or JSON) loaded into :class:`Scenario`, a pydantic v2
model, so a typo in a field name is an error that names the field::

    seed: 7
    timing:
      launch: {min: 600, max: 900}
    source_servers:
      - id: s-1234567890abcdef0
        hostname: db01
        tags: {Tier: database}
    generate_servers: 10
    faults:
      - {kind: throttle, operation: DescribeJobs, rate: 2, burst: 5, retry_after: 3}
      - {kind: launch_failure, server_id: s-1234567890abcdef0, raw_error: "No capacity"}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from drsorch.errors import ScenarioError
from drsorch.sim.faults import Fault
from drsorch.sim.timing import Timing, TimingOverrides

SERVER_ID_RE = re.compile(r"s-[0-9a-zA-Z]{17}")

#: DRS's replication states (SourceServer.dataReplicationInfo.dataReplicationState).
REPLICATION_STATES = (
    "STOPPED",
    "INITIATING",
    "INITIAL_SYNC",
    "BACKLOG",
    "CREATING_SNAPSHOT",
    "CONTINUOUS",
    "PAUSED",
    "RESCAN",
    "STALLED",
    "DISCONNECTED",
)


class ServerSpec(BaseModel):
    """One source server of the scenario."""

    model_config = ConfigDict(extra="forbid")

    id: str
    hostname: str | None = None  # default: derived from the id
    tags: dict[str, str] = Field(default_factory=dict)
    replication_state: str = "CONTINUOUS"
    instance_type: str = "m5.large"
    timing: TimingOverrides | None = None

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not SERVER_ID_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a DRS source server id (s- and 17 alphanumerics)")
        return value

    @field_validator("replication_state")
    @classmethod
    def _valid_state(cls, value: str) -> str:
        if value not in REPLICATION_STATES:
            raise ValueError(f"{value!r} is not one of {', '.join(REPLICATION_STATES)}")
        return value


class Quotas(BaseModel):
    """DRS job quotas (the service's defaults; none of them is adjustable on AWS)."""

    model_config = ConfigDict(extra="forbid")

    servers_per_job: int = Field(default=100, ge=1)  # L-B827C881
    concurrent_jobs: int = Field(default=20, ge=1)  # L-D88FAC3A
    servers_in_active_jobs: int = Field(default=500, ge=1)  # L-05AFA8C6


class Scenario(BaseModel):
    """Everything that shapes a simulated region, apart from the clock."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = None  # used when the caller gives none
    timing: Timing = Field(default_factory=Timing)
    quotas: Quotas = Field(default_factory=Quotas)
    source_servers: list[ServerSpec] = Field(default_factory=list)
    generate_servers: int = Field(default=0, ge=0)  # this many more, with seeded ids
    # "same": recoveryInstanceID equals the EC2 instance id, as on real DRS; "distinct": not
    recovery_instance_ids: Literal["same", "distinct"] = "same"
    # EC2 forgets a terminated instance this long after it terminated
    terminated_visible_seconds: float = Field(default=3600.0, ge=0)
    faults: list[Fault] = Field(default_factory=list)

    @field_validator("source_servers")
    @classmethod
    def _unique(cls, value: list[ServerSpec]) -> list[ServerSpec]:
        seen: set[str] = set()
        for spec in value:
            if spec.id in seen:
                raise ValueError(f"source server {spec.id} is listed twice")
            seen.add(spec.id)
        return value

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Load a YAML or JSON scenario file (JSON is YAML).

        Every problem — unreadable file, YAML syntax, an invalid field — is a
        :class:`~drsorch.errors.ScenarioError` with one line naming the file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
            return cls.from_yaml(text)
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"{path}: not UTF-8 text") from exc
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f" at line {mark.line + 1}" if mark else ""
            raise ScenarioError(f"{path}: YAML syntax error{where}: {exc.problem}") from exc
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{path}: {exc}") from exc
        except ValidationError as exc:
            errors = exc.errors()
            first = errors[0]
            # Leave out pydantic's internal validator names such as "str-enum[FaultKind]".
            where = ".".join(str(p) for p in first["loc"] if "[" not in str(p)) or "(scenario)"
            others = {e["loc"][:2] for e in errors} - {first["loc"][:2]}
            more = f" (and {len(others)} more)" if others else ""
            got = first.get("input")
            shown = f" (got {got!r})" if isinstance(got, str | int | float) else ""
            raise ScenarioError(f"{path}: {where}: {first['msg']}{shown}{more}") from exc
        except ValueError as exc:
            raise ScenarioError(f"{path}: {exc}") from exc

    @classmethod
    def from_yaml(cls, text: str) -> Scenario:
        data: Any = yaml.safe_load(text)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError("a scenario must be a mapping at the top level")
        return cls.model_validate(data)
