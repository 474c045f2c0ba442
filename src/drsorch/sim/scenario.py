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

Every size has a bound, checked before the region allocates anything, so a typo such as
``generate_servers: 100000000`` is a one-line :class:`~drsorch.errors.ScenarioError` naming
the file and the field instead of a process that eats the machine's memory:

- at most :data:`MAX_SERVERS` source servers (listed and generated together), each with at
  most :data:`MAX_TAGS` tags;
- every duration (timing spans, fault windows, ``retry_after``,
  ``terminated_visible_seconds``) a finite number of seconds from 0 to :data:`MAX_SECONDS`;
- at most :data:`MAX_FAULTS` faults; ``nth`` and ``times`` up to :data:`MAX_COUNT`; a
  throttle's ``rate`` and ``burst`` finite, up to :data:`MAX_RATE`; ``probability`` in [0, 1];
- ``seed`` from 0 to :data:`MAX_SEED`; quotas from 1 to :data:`MAX_SERVERS`;
- strings up to :data:`MAX_TEXT` characters, and the file itself up to :data:`MAX_FILE_BYTES`;
- at most :data:`MAX_ACCOUNTS` accounts with :data:`MAX_KEYS` access keys each, and
  :data:`MAX_ROLES` roles trusting at most :data:`MAX_TRUSTED` accounts each.

Accounts and roles (issue 8) make the region a small AWS partition: which accounts exist,
which access keys belong to which, which IAM roles can be assumed through STS and by whom,
and which account holds the source servers (``servers_account``). Every account, role
and trusted account named anywhere must be declared, so a typo is an error, not a role
nobody can assume. Without ``accounts`` there is one account that accepts any credentials.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from drsorch.errors import ScenarioError
from drsorch.sim.faults import Fault
from drsorch.sim.timing import Span, Timing, TimingOverrides

SERVER_ID_RE = re.compile(r"s-[0-9a-zA-Z]{17}")
ACCOUNT_ID_RE = re.compile(r"[0-9]{12}")
#: Access key ids as IAM issues them (AKIA... for users; STS's own are ASIA...).
ACCESS_KEY_RE = re.compile(r"[A-Z0-9]{16,128}")
#: IAM user and role names, and STS session names (without the length limit).
IAM_NAME_RE = re.compile(r"[\w+=,.@-]+", re.ASCII)
#: ``arn:aws:iam::ACCOUNT:role/[PATH/]NAME``; group 1 is the account, group 2 the name.
ROLE_ARN_RE = re.compile(
    r"arn:aws:iam::([0-9]{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})", re.ASCII
)
#: STS's ExternalId pattern (2 to 1224 characters).
EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)

#: Source servers of one simulated region, listed and generated together (DRS itself
#: replicates at most a few thousand per account; the benchmarks use 10 000).
MAX_SERVERS = 20_000
#: Tags per source server (as on AWS).
MAX_TAGS = 50
#: The longest duration anywhere in a scenario: 30 days, in seconds.
MAX_SECONDS = 30 * 86_400
MAX_FAULTS = 1_000
#: ``nth`` and ``times`` of a fault.
MAX_COUNT = 1_000_000_000
#: A throttle's ``rate`` (tokens per second) and ``burst``.
MAX_RATE = 1_000_000.0
MAX_SEED = 2**63 - 1
#: Characters of any string (a name, a tag, a fault's message or raw error).
MAX_TEXT = 4_096
MAX_FILE_BYTES = 16 * 2**20
MAX_ACCOUNTS = 100
#: Static access keys of one account (IAM allows two per user; a scenario may list users).
MAX_KEYS = 100
MAX_ROLES = 1_000
#: Accounts one role trusts.
MAX_TRUSTED = 100
#: IAM's bounds of a role's maximum session duration (MaxSessionDuration), in seconds.
MIN_ROLE_SESSION = 3_600
MAX_ROLE_SESSION = 43_200

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
    hostname: str | None = Field(default=None, max_length=255)  # default: from the id
    tags: dict[str, str] = Field(default_factory=dict, max_length=MAX_TAGS)
    replication_state: str = "CONTINUOUS"
    instance_type: str = Field(default="m5.large", max_length=64)
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

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag in value.items():
            if not 1 <= len(key) <= 128 or len(tag) > 256:
                raise ValueError(
                    f"tag {key[:40]!r}: keys have 1 to 128 characters, values at most 256"
                )
        return value


class Quotas(BaseModel):
    """DRS job quotas (the service's defaults; none of them is adjustable on AWS)."""

    model_config = ConfigDict(extra="forbid")

    servers_per_job: int = Field(default=100, ge=1, le=MAX_SERVERS)  # L-B827C881
    concurrent_jobs: int = Field(default=20, ge=1, le=MAX_SERVERS)  # L-D88FAC3A
    servers_in_active_jobs: int = Field(default=500, ge=1, le=MAX_SERVERS)  # L-05AFA8C6


def _account_id(value: Any) -> Any:
    """A 12-digit account id; an unquoted one in YAML is an int, which loses leading zeros."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f'write account ids as 12-digit strings in quotes, e.g. "{value:012d}"'
            if 0 <= value < 10**12
            else "an account id is 12 digits, written in quotes"
        )
    if isinstance(value, str) and not ACCOUNT_ID_RE.fullmatch(value):
        raise ValueError(f"{_shown(value)} is not an AWS account id (12 digits)")
    return value


class AccessKeySpec(BaseModel):
    """A static access key of an account (an IAM user's), as a client would configure it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    # Not checked: the simulator does not verify signatures. Listed so the file says what
    # a client should configure.
    secret: str | None = Field(default=None, min_length=1, max_length=128)
    user: str = Field(default="simulator", min_length=1, max_length=64)  # the IAM user name

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not ACCESS_KEY_RE.fullmatch(value):
            raise ValueError(
                f"{_shown(value)} is not an access key id (16 to 128 capital letters and digits)"
            )
        if value.startswith("ASIA"):
            raise ValueError(
                f"{_shown(value)}: ASIA... keys are the ones STS issues; a static key is AKIA..."
            )
        return value

    @field_validator("user")
    @classmethod
    def _valid_user(cls, value: str) -> str:
        if not IAM_NAME_RE.fullmatch(value):
            raise ValueError(f"{_shown(value)} is not an IAM user name ([\\w+=,.@-])")
        return value


class AccountSpec(BaseModel):
    """One AWS account of the simulated partition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    # Keys that sign as this account. When the FIRST account lists none, it accepts any key
    # STS did not issue (the caller's account, whatever the client is configured with).
    access_keys: list[AccessKeySpec] = Field(default_factory=list, max_length=MAX_KEYS)

    @field_validator("id", mode="before")
    @classmethod
    def _valid_id(cls, value: Any) -> Any:
        return _account_id(value)


class TrustSpec(BaseModel):
    """Who may assume a role: principals of these accounts, with this ExternalId if set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: list[str] = Field(min_length=1, max_length=MAX_TRUSTED)
    external_id: str | None = None

    @field_validator("accounts", mode="before")
    @classmethod
    def _valid_accounts(cls, value: Any) -> Any:
        if isinstance(value, list):
            for item in value:
                _account_id(item)
        return value

    @field_validator("external_id")
    @classmethod
    def _valid_external_id(cls, value: str | None) -> str | None:
        if value is not None and not EXTERNAL_ID_RE.fullmatch(value):
            raise ValueError("an ExternalId has 2 to 1224 characters of [\\w+=,.@:/-]")
        return value


class RoleSpec(BaseModel):
    """An IAM role that STS AssumeRole can hand out credentials for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arn: str = Field(max_length=2048)
    trust: TrustSpec
    # the role's MaxSessionDuration: AssumeRole's DurationSeconds may not exceed it
    max_session_seconds: int = Field(default=3600, ge=MIN_ROLE_SESSION, le=MAX_ROLE_SESSION)

    @field_validator("arn")
    @classmethod
    def _valid_arn(cls, value: str) -> str:
        if not ROLE_ARN_RE.fullmatch(value):
            raise ValueError(
                f"{_shown(value)} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
            )
        return value

    @property
    def account_id(self) -> str:
        match = ROLE_ARN_RE.fullmatch(self.arn)
        assert match is not None
        return match.group(1)

    @property
    def name(self) -> str:
        match = ROLE_ARN_RE.fullmatch(self.arn)
        assert match is not None
        return match.group(2)


class Scenario(BaseModel):
    """Everything that shapes a simulated region, apart from the clock."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)  # used when the caller gives none
    timing: Timing = Field(default_factory=Timing)
    quotas: Quotas = Field(default_factory=Quotas)
    source_servers: list[ServerSpec] = Field(default_factory=list, max_length=MAX_SERVERS)
    # this many more, with seeded ids
    generate_servers: int = Field(default=0, ge=0, le=MAX_SERVERS)
    # "same": recoveryInstanceID equals the EC2 instance id, as on real DRS; "distinct": not
    recovery_instance_ids: Literal["same", "distinct"] = "same"
    # EC2 forgets a terminated instance this long after it terminated
    terminated_visible_seconds: float = Field(
        default=3600.0, ge=0, le=MAX_SECONDS, allow_inf_nan=False
    )
    faults: list[Fault] = Field(default_factory=list, max_length=MAX_FAULTS)
    # accounts, STS roles and where the source servers are (docs/simulator.md)
    accounts: list[AccountSpec] = Field(default_factory=list, max_length=MAX_ACCOUNTS)
    roles: list[RoleSpec] = Field(default_factory=list, max_length=MAX_ROLES)
    servers_account: str | None = None  # default: the first declared account

    @field_validator("servers_account", mode="before")
    @classmethod
    def _valid_servers_account(cls, value: Any) -> Any:
        return None if value is None else _account_id(value)

    @field_validator("source_servers")
    @classmethod
    def _unique(cls, value: list[ServerSpec]) -> list[ServerSpec]:
        seen: set[str] = set()
        for spec in value:
            if spec.id in seen:
                raise ValueError(f"source server {spec.id} is listed twice")
            seen.add(spec.id)
        return value

    @model_validator(mode="after")
    def _within_limits(self) -> Scenario:
        """The bounds of the module docstring that the timing and fault models (shared with
        programmatic use) do not check themselves; the first problem names its field."""
        problems = [*_limit_problems(self), *_account_problems(self)]
        if problems:
            field, problem = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise PydanticCustomError(
                "scenario_limit",
                "{field}: {problem}",
                {"field": field, "problem": problem + more},
            )
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Load a YAML or JSON scenario file (JSON is YAML).

        Every problem — unreadable file, YAML syntax, an invalid field — is a
        :class:`~drsorch.errors.ScenarioError` with one line naming the file."""
        try:
            return cls.from_yaml(_read_bounded(path).decode("utf-8"))
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"{path}: not UTF-8 text") from exc
        except RecursionError as exc:
            raise ScenarioError(f"{path}: nested too deeply to be a scenario") from exc
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f" at line {mark.line + 1}" if mark else ""
            raise ScenarioError(f"{path}: YAML syntax error{where}: {exc.problem}") from exc
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{path}: {exc}") from exc
        except ValidationError as exc:
            errors = exc.errors()
            first = errors[0]
            if first["type"] == "scenario_limit":  # _within_limits: names its own field
                ctx = first.get("ctx") or {}
                raise ScenarioError(f"{path}: {ctx['field']}: {ctx['problem']}") from exc
            # Leave out pydantic's internal validator names such as "str-enum[FaultKind]".
            where = ".".join(str(p) for p in first["loc"] if "[" not in str(p)) or "(scenario)"
            others = {e["loc"][:2] for e in errors} - {first["loc"][:2]}
            more = f" (and {len(others)} more)" if others else ""
            got = first.get("input")
            shown = f" (got {_shown(got)})" if isinstance(got, str | int | float) else ""
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


def _read_bounded(path: str | Path) -> bytes:
    """The file's bytes, read in chunks and never more than :data:`MAX_FILE_BYTES` (a
    scenario is a few kilobytes; ``/dev/zero`` or a huge file must not fill the memory)."""
    chunks: list[bytes] = []
    size = 0
    with Path(path).open("rb") as file:
        while chunk := file.read(64 * 1024):
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise ScenarioError(
                    f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; not a scenario"
                )
            chunks.append(chunk)
    return b"".join(chunks)


def _seconds(value: float | None) -> str | None:
    """Why ``value`` is not a duration a scenario may hold, or None when it is."""
    if value is None or (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
        return None
    return f"must be a finite number of seconds from 0 to {MAX_SECONDS} (got {_shown(value)})"


def _spans(where: str, timing: Timing | TimingOverrides | None) -> Iterator[tuple[str, str]]:
    if timing is None:
        return
    for name in type(timing).model_fields:
        span = getattr(timing, name)
        if isinstance(span, Span):
            for end in ("min", "max"):
                problem = _seconds(getattr(span, end))
                if problem:
                    yield f"{where}.{name}.{end}", problem


def _limit_problems(scenario: Scenario) -> Iterator[tuple[str, str]]:
    """``(field, problem)`` for every bound of the module docstring the scenario breaks."""
    total = len(scenario.source_servers) + scenario.generate_servers
    if total > MAX_SERVERS:
        yield (
            "generate_servers",
            f"{len(scenario.source_servers)} listed and {scenario.generate_servers} generated "
            f"source servers: a region holds at most {MAX_SERVERS}",
        )
    yield from _spans("timing", scenario.timing)
    for i, spec in enumerate(scenario.source_servers):
        yield from _spans(f"source_servers.{i}.timing", spec.timing)
    for i, fault in enumerate(scenario.faults):
        where = f"faults.{i}"
        for name in ("after", "before", "retry_after"):
            problem = _seconds(getattr(fault, name))
            if problem:
                yield f"{where}.{name}", problem
        for name in ("nth", "times"):
            count = getattr(fault, name)
            if count is not None and count > MAX_COUNT:
                yield f"{where}.{name}", f"must be at most {MAX_COUNT} (got {_shown(count)})"
        for name in ("rate", "burst"):
            rate = getattr(fault, name)
            if rate is not None and not (math.isfinite(rate) and rate <= MAX_RATE):
                yield (
                    f"{where}.{name}",
                    f"must be a finite number up to {MAX_RATE:g} (got {_shown(rate)})",
                )
        for name in ("operation", "server_id", "message", "raw_error", "status"):
            text = getattr(fault, name)
            if text is not None and len(text) > MAX_TEXT:
                yield f"{where}.{name}", f"must be at most {MAX_TEXT} characters"


def _account_problems(scenario: Scenario) -> Iterator[tuple[str, str]]:
    """``(field, problem)`` for accounts, keys and roles that do not fit together."""
    if not scenario.accounts:
        if scenario.roles:
            yield "roles", "roles need accounts: declare the role's account and the caller's"
        if scenario.servers_account is not None:
            yield "servers_account", "needs accounts: declare it under accounts"
        return
    declared: set[str] = set()
    keys: set[str] = set()
    for i, account in enumerate(scenario.accounts):
        if account.id in declared:
            yield f"accounts.{i}.id", f"account {account.id} is declared twice"
        declared.add(account.id)
        for k, key in enumerate(account.access_keys):
            if key.id in keys:
                yield f"accounts.{i}.access_keys.{k}.id", f"access key {key.id} is listed twice"
            keys.add(key.id)
    if scenario.servers_account is not None and scenario.servers_account not in declared:
        yield (
            "servers_account",
            f"account {scenario.servers_account} is not declared under accounts",
        )
    arns: set[str] = set()
    for i, role in enumerate(scenario.roles):
        if role.arn in arns:
            yield f"roles.{i}.arn", f"role {role.arn} is declared twice"
        arns.add(role.arn)
        if role.account_id not in declared:
            yield f"roles.{i}.arn", f"the role's account {role.account_id} is not declared"
        for t, trusted in enumerate(role.trust.accounts):
            if trusted not in declared:
                yield (
                    f"roles.{i}.trust.accounts.{t}",
                    f"account {trusted} is not declared under accounts",
                )


def _shown(value: str | int | float) -> str:
    """A rejected value for an error line: short (a 5000-digit seed, a huge string)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        # str() of a huge int raises (Python's 4300-digit limit): count its digits instead
        return f"an integer of about {int(abs(value).bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
