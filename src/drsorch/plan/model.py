"""The recovery-plan model (design §3): pydantic v2, PascalCase on the wire.

Owns the *shape* of a plan — every field, its type, default and range — and the derived
views the engine needs (effective dependencies, launch order, health-check settings).
Rules that relate several fields (duplicates, cycles, permutations) live in
:mod:`drsorch.plan.checks`; they judge the values *this model* produced, so a plan that
validates is exactly the plan the engine runs.

Value policy (issue 7) — the model is the one place that decides what a value means:

- **Integers are integers.** ``WaveNumber``, ``ExecutionOrder`` entries, ``WaitTimeSeconds``,
  ``TimeoutSeconds`` and the health-check numbers must be written as integers. ``1.0``,
  ``"1"``, ``" 5 "``, ``true``, ``.nan`` are refused with a message naming the field; nothing
  is coerced. (YAML's own integer spellings, ``1_000`` or ``0x10``, are integers.)
- **Wave references** in ``Dependencies`` are an integer or one of the documented strings
  ``"3"``, ``"Wave-3"``, ``"wave-3"``, ``"Wave3"`` (ASCII digits only); surrounding
  whitespace is ignored, as in every string.
- **Booleans are booleans**: ``"yes"`` (quoted), ``1`` or ``"true"`` are not ``true``.
- **Strings** lose surrounding whitespace before any check (``str_strip_whitespace``); server
  ids are compared for duplicates after that, so ``" s-…"`` and ``"s-…"`` are one server.
- **Patterns are ASCII** and match the whole value: ``٣`` is not a digit, ``\\n`` does not end
  an id.
- **Names** (``PlanName``, ``WaveName``) contain no control characters; ``Description`` may
  hold line breaks and tabs but no other control character.

Failure tolerance (issue 11, item 8) — ``MaxFailedServers`` / ``MaxFailedPercent``, on a
wave or in ``Defaults``:

- How many of a wave's servers may end FAILED with the wave still COMPLETED, so that its
  dependents are released. Default 0: one failed server fails the wave (the seed's rule).
- ``MaxFailedServers`` is a count (0 to :data:`MAX_FAILED_SERVERS`; on a wave, at most its
  number of servers); ``MaxFailedPercent`` a whole percentage 0-100 of the wave's servers,
  rounded **down** (10 % of 5 servers tolerates none). A wave, or ``Defaults``, gives one of
  the two, not both. A wave that gives either replaces ``Defaults``' tolerance as a whole;
  a count in ``Defaults`` larger than a wave means "all of that wave may fail".
- The failed servers stay FAILED in the record, with their errors; the execution ends
  COMPLETED (exit 0) and its record's ``FailedServerCount`` says how many failed.
- SEQUENTIAL: a failed server within the tolerance does not stop the sequence; once the
  failures exceed it, the rest are SKIPPED and the wave is FAILED, as before.
- SKIPPED and CANCELLED servers are never tolerated: a cancelled or aborted wave still ends
  CANCELLED or FAILED.
"""

from __future__ import annotations

import re
import reprlib
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic.alias_generators import to_pascal

from drsorch.text import printable

# ASCII only, whole value (matched with fullmatch): [0-9], never \d or \w, which accept
# Unicode digits and letters. The same strings are the JSON Schema patterns.
SERVER_ID_RE = re.compile(r"^s-[0-9a-zA-Z]{17}$")
PLAN_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ACCOUNT_ID_RE = re.compile(r"^[0-9]{12}$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/[A-Za-z0-9_+=,.@/-]{1,512}$")
TOPIC_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):([0-9]{12}):[A-Za-z0-9_-]{1,256}(\.fifo)?$"
)
EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$")
WAVE_REF_RE = re.compile(r"^(?:[Ww]ave-?)?([0-9]+)$")

MAX_WAIT_SECONDS = 86_400  # one day between waves is already absurd
MAX_TIMEOUT_SECONDS = 7 * 86_400  # a week-long execution is a mistake
MAX_WAVE_NUMBER = 10_000
MAX_FAILED_SERVERS = 100_000  # more servers than DRS lets one account replicate
#: DRS's TagKey and TagValue (botocore's drs model: strings of 0-256 characters). An empty
#: key selects nothing useful, so a selector's keys have at least one character.
MAX_TAG_KEY = 256
MAX_TAG_VALUE = 256
#: Tags one AWS resource may carry: a selector naming more could never match.
MAX_SELECTOR_TAGS = 50
DRS_MAX_SERVERS_PER_JOB = 100

#: How every value of a plan is read; the cross-field checks validate single values with
#: the same settings (:mod:`drsorch.plan.checks`), so they see what the model sees.
VALUE_CONFIG = ConfigDict(strict=True, str_strip_whitespace=True)

# -- values in messages ----------------------------------------------------------------------


class _Repr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 200:  # repr() refuses past 4300 digits; and nobody reads them
            return f"<a number of about {int(x.bit_length() * 0.30103)} digits>"
        return super().repr_int(x, level)


_REPR = _Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 8
_REPR.maxdict = 6
_REPR.maxlevel = 3


def show(value: Any) -> str:
    """A value from a plan file as a message shows it: short, quoted like Python, printable.

    Bounded whatever the input: long strings and lists are cut, deep or recursive nesting
    is elided, and an integer of thousands of digits is described, not converted.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"a number of about {int(value.bit_length() * 0.30103)} digits"
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError):  # e.g. a huge int inside a list
        text = f"a {type(value).__name__}"
    return printable(text)


def describe(value: Any) -> str:
    """What a wrongly typed value is, in a DR engineer's words: ``the text '1'``, ``1.5``."""
    if value is None:
        return "null (no value)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return show(value)
    if isinstance(value, str):
        return f"the text {show(value)}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bytes | bytearray):
        return "binary data"
    return {"date": "a date", "datetime": "a date and time"}.get(
        type(value).__name__, f"a {printable(type(value).__name__)}"
    )


# -- value types -----------------------------------------------------------------------------


def _matches(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{show(value)} is not {what}")
        return value

    return AfterValidator(check)


def _account_id(value: Any) -> Any:
    # YAML reads an unquoted 111122223333 as an int; accept it when it is 12 digits, and
    # let the pattern name any other number ("'12345' is not an AWS account id").
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > 64:
            raise ValueError(f"{show(value)} is not an AWS account id (12 digits)")
        if len(str(value)) != 12:
            raise ValueError(
                f"the number {value} is not an AWS account id (12 digits); an account id "
                "written without quotes is read as a number, which drops leading zeros (and "
                'reads 0-prefixed ones as octal): write it in quotes, e.g. "012345678901"'
            )
        return str(value)
    return value


def _integer(value: Any) -> Any:
    """Strict integers: only an integer written as one (see the value policy above)."""
    if isinstance(value, bool):
        # pydantic would take true/false as 1/0; in a plan `WaitTimeSeconds: yes` is a mistake.
        raise ValueError(f"must be a number, not {str(value).lower()}")
    if isinstance(value, int):
        return value
    hint = ""
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        hint = " (write the number without quotes)"
    elif isinstance(value, float) and value.is_integer():
        hint = f" (write {int(value)})"
    raise ValueError(f"must be an integer, not {describe(value)}{hint}")


Number = Annotated[int, BeforeValidator(_integer)]
WaveNumber = Annotated[Number, Field(ge=1, le=MAX_WAVE_NUMBER)]
WaveKind = Literal["PARALLEL", "SEQUENTIAL"]


def _wave_ref(value: Any) -> Any:
    """Normalize ``3``, ``"3"``, ``"Wave-3"`` to ``3``; nothing else is a reference."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        m = WAVE_REF_RE.fullmatch(value.strip(" \t\r\n"))
        if m and len(m.group(1)) <= 12:
            return int(m.group(1))
        raise ValueError(f"{show(value)} is not a wave reference (a WaveNumber or 'Wave-N')")
    raise ValueError(f"must be a WaveNumber or 'Wave-N', not {describe(value)}")


def _no_controls(*, multiline: bool) -> Any:
    def check(value: str) -> str:
        text = value.replace("\r\n", "\n") if multiline else value
        safe = printable(text, keep_newlines=multiline)
        if safe != text:
            bad = next(c for c, s in zip(text, safe, strict=False) if c != s)
            what = "tab" if bad == "\t" else printable(bad)
            raise ValueError(f"must not contain control characters (found {what})")
        return value

    return AfterValidator(check)


Name = Annotated[str, Field(max_length=256), _no_controls(multiline=False)]
Text = Annotated[str, Field(max_length=4096), _no_controls(multiline=True)]


ServerId = Annotated[
    str,
    _matches(SERVER_ID_RE, "a DRS source server id ('s-' followed by 17 letters or digits)"),
    WithJsonSchema({"type": "string", "pattern": SERVER_ID_RE.pattern}),
]
AccountId = Annotated[
    str,
    BeforeValidator(_account_id),
    _matches(ACCOUNT_ID_RE, "an AWS account id (12 digits)"),
    # YAML reads an unquoted account id as a number, and the model accepts it: so must the
    # schema, or a plan the loader accepts would be flagged by the editor.
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": ACCOUNT_ID_RE.pattern},
                {"type": "integer", "minimum": 100_000_000_000, "maximum": 999_999_999_999},
            ]
        }
    ),
]
Region = Annotated[str, _matches(REGION_RE, "an AWS region name (like us-east-1)")]
RoleArn = Annotated[
    str, _matches(ROLE_ARN_RE, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
]
TopicArn = Annotated[
    str, _matches(TOPIC_ARN_RE, "an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
]
ExternalId = Annotated[
    str, _matches(EXTERNAL_ID_RE, "a valid ExternalId (2-1224 of letters, digits, +=,.@:/-_)")
]
WaveRef = Annotated[
    int,
    BeforeValidator(_wave_ref),
    Field(ge=1, le=MAX_WAVE_NUMBER),
    # The model accepts "Wave-3" as well as 3, so the schema must too.
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_WAVE_NUMBER},
                {"type": "string", "pattern": WAVE_REF_RE.pattern},
            ]
        }
    ),
]


def _tag_keys(value: dict[str, str]) -> dict[str, str]:
    """Tag keys as DRS takes them; checked here so the message names the key, not '[key]'."""
    for key in value:
        if not key:
            raise ValueError("a tag key must not be empty")
        if len(key) > MAX_TAG_KEY:
            raise ValueError(
                f"tag key {show(key)} has {len(key)} characters; DRS tag keys have at most "
                f"{MAX_TAG_KEY}"
            )
        if printable(key) != key:
            raise ValueError(f"tag key {show(key)} must not contain control characters")
    return value


TagValue = Annotated[str, Field(max_length=MAX_TAG_VALUE), _no_controls(multiline=False)]
#: ServerTags: a source server is selected when it has every one of these tags, each with
#: exactly this value (compared as written, case-sensitive, as DRS stores them).
ServerTags = Annotated[
    dict[str, TagValue],
    Field(min_length=1, max_length=MAX_SELECTOR_TAGS),
    AfterValidator(_tag_keys),
]


def tolerated_failures(servers: int | None, percent: int | None, n: int) -> int:
    """Servers of a wave of ``n`` that may fail: MaxFailedServers capped at ``n``, else
    MaxFailedPercent of ``n`` rounded down, else none."""
    if servers is not None:
        return min(servers, n)
    if percent is not None:
        return n * percent // 100
    return 0


class _Model(BaseModel):
    model_config = ConfigDict(
        **VALUE_CONFIG,
        alias_generator=to_pascal,
        populate_by_name=True,  # code may build models by field name; files may not
        extra="forbid",
        frozen=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The plan as it would be written in a file (PascalCase, unset optionals left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


HealthRequirement = Literal["RUNNING", "STATUS_OK"]


class HealthCheckSettings(_Model):
    """Health-check fields as written; any may be left out to inherit (wave ← plan ← built-in)."""

    enabled: bool | None = Field(None, description="false: a LAUNCHED server is COMPLETED at once")
    poll_interval_seconds: Number | None = Field(
        None, ge=1, le=3600, description="seconds between polls"
    )
    max_polls: Number | None = Field(None, ge=1, le=1000, description="polls before giving up")
    require: HealthRequirement | None = Field(
        None, description="RUNNING: instance running; STATUS_OK: also both status checks ok"
    )


class HealthCheck(_Model):
    """Fully resolved health-check settings of one wave."""

    enabled: bool = True
    poll_interval_seconds: int = 30
    max_polls: int = 10
    require: HealthRequirement = "RUNNING"

    def merged(self, override: HealthCheckSettings | None) -> HealthCheck:
        if override is None:
            return self
        changes = {k: v for k, v in override.model_dump().items() if v is not None}
        return self.model_copy(update=changes)


# The range goes on the int inside the strict-integer validator: put around ``Number`` (or
# on ``... | None``) pydantic writes it into the JSON Schema as "ge"/"le", which no editor
# reads, instead of minimum/maximum.
FailedCount = Annotated[int, Field(ge=0, le=MAX_FAILED_SERVERS), BeforeValidator(_integer)]
Percent = Annotated[int, Field(ge=0, le=100), BeforeValidator(_integer)]
RtoSeconds = Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS), BeforeValidator(_integer)]

_MAX_FAILED_SERVERS_HELP = (
    "servers of the wave that may end FAILED with the wave still COMPLETED (its dependents "
    "released); default 0"
)
_MAX_FAILED_PERCENT_HELP = (
    "like MaxFailedServers, as a whole percentage of the wave's servers, rounded down"
)


class Defaults(_Model):
    health_check: HealthCheckSettings | None = None
    max_failed_servers: FailedCount | None = Field(None, description=_MAX_FAILED_SERVERS_HELP)
    max_failed_percent: Percent | None = Field(None, description=_MAX_FAILED_PERCENT_HELP)


class Target(_Model):
    """Where to recover; omitted = the caller's own account and region."""

    account_id: AccountId
    region: Region | None = None
    role_arn: RoleArn | None = Field(None, description="assumed when the account differs")
    external_id: ExternalId | None = None


class Notifications(_Model):
    sns_topic_arn: TopicArn | None = None


class Wave(_Model):
    """One wave: a set of servers recovered together, after its dependencies."""

    # The schema says what the checks say: ServerIds, ServerTags or both.
    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["ServerIds"]}, {"required": ["ServerTags"]}]}
    )

    wave_number: WaveNumber
    wave_name: Name | None = None
    server_ids: Annotated[list[ServerId], Field(min_length=1)] | None = Field(
        None, description="DRS source server ids"
    )
    server_tags: ServerTags | None = Field(
        None,
        description=(
            "select the DRS source servers that carry every one of these tags (Key: Value); "
            "resolved at preflight, with or instead of ServerIds"
        ),
    )
    execution_type: WaveKind = "PARALLEL"
    execution_order: list[Number] | None = Field(
        None, description="SEQUENTIAL only: launch order as 1-based positions in ServerIds"
    )
    dependencies: list[WaveRef] | None = Field(
        None, description="WaveNumbers this wave waits for; omitted = the previous wave"
    )
    wait_time_seconds: Number = Field(0, ge=0, le=MAX_WAIT_SECONDS)
    health_check: HealthCheckSettings | None = None
    pause_before: bool = False
    max_failed_servers: FailedCount | None = Field(None, description=_MAX_FAILED_SERVERS_HELP)
    max_failed_percent: Percent | None = Field(None, description=_MAX_FAILED_PERCENT_HELP)

    @property
    def name(self) -> str:
        return self.wave_name or f"Wave {self.wave_number}"

    @property
    def listed_ids(self) -> list[str]:
        """The ServerIds written in the plan (none when the wave only gives ServerTags)."""
        return list(self.server_ids or ())

    def launch_order(self) -> list[str]:
        """Listed server ids in the order they are launched (ExecutionOrder for SEQUENTIAL
        waves). Servers selected by ServerTags are only known at preflight; they follow,
        in id order."""
        if self.execution_type == "SEQUENTIAL" and self.execution_order and self.server_ids:
            return [self.server_ids[i - 1] for i in self.execution_order]
        return self.listed_ids


class Plan(_Model):
    """A recovery plan: a DAG of waves run as a DRILL or a RECOVERY."""

    plan_id: Annotated[str, _matches(PLAN_ID_RE, "a plan id ([A-Za-z0-9_-], 1-64 characters)")]
    plan_name: Annotated[Name, Field(min_length=1)]
    description: Text | None = None
    execution_type: Literal["DRILL", "RECOVERY"] = "DRILL"
    timeout_seconds: Number = Field(14_400, ge=1, le=MAX_TIMEOUT_SECONDS)
    rto_target_seconds: RtoSeconds | None = Field(
        None,
        description="recovery-time objective: `drsorch report` says whether an execution met it",
    )
    approval_timeout_seconds: RtoSeconds = Field(
        86_400,
        description="how long a PauseBefore wave waits for its approval before it is "
        "CANCELLED (and its dependents SKIPPED); time waiting is not counted in TimeoutSeconds",
    )
    target: Target | None = None
    notifications: Notifications | None = None
    defaults: Defaults | None = None
    waves: list[Wave] = Field(min_length=1)

    # -- derived views -------------------------------------------------------------------
    def wave(self, number: int) -> Wave:
        for w in self.waves:
            if w.wave_number == number:
                return w
        raise KeyError(number)

    def all_server_ids(self) -> list[str]:
        """The ids the plan lists (ServerIds); servers selected by ServerTags are not known
        before the preflight resolves them."""
        return [sid for w in self.waves for sid in w.listed_ids]

    def selects_by_tags(self) -> bool:
        """Some wave selects servers by ServerTags."""
        return any(w.server_tags for w in self.waves)

    def _dependency_map(self) -> dict[int, list[int]]:
        """Every wave's effective dependencies, in O(n log n) for plans of thousands of waves."""
        numbers = sorted(w.wave_number for w in self.waves)
        previous = dict(zip(numbers[1:], numbers, strict=False))
        return {
            w.wave_number: (
                list(dict.fromkeys(w.dependencies))
                if w.dependencies is not None
                else [previous[w.wave_number]]
                if w.wave_number in previous
                else []
            )
            for w in self.waves
        }

    def dependencies_of(self, wave: Wave) -> list[int]:
        """Explicit Dependencies, or the previous wave by WaveNumber when omitted."""
        if wave.dependencies is not None:
            return list(dict.fromkeys(wave.dependencies))
        earlier = [w.wave_number for w in self.waves if w.wave_number < wave.wave_number]
        return [max(earlier)] if earlier else []

    def health_check_for(self, wave: Wave) -> HealthCheck:
        base = HealthCheck().merged(self.defaults.health_check if self.defaults else None)
        return base.merged(wave.health_check)

    def max_failed_for(self, wave: Wave) -> int:
        """How many of ``wave``'s servers may end FAILED with the wave still COMPLETED.

        The wave's own MaxFailedServers or MaxFailedPercent, else the Defaults' one, else 0;
        a percentage is rounded down, a count is capped at the wave's number of servers.
        """
        return self.max_failed_of(wave, len(wave.listed_ids))

    def tolerance_of(self, wave: Wave) -> tuple[int | None, int | None]:
        """(MaxFailedServers, MaxFailedPercent) that apply to ``wave``: its own, else the
        Defaults' (either may be None)."""
        source: Wave | Defaults | None = wave
        if wave.max_failed_servers is None and wave.max_failed_percent is None:
            source = self.defaults
        if source is None:
            return None, None
        return source.max_failed_servers, source.max_failed_percent

    def max_failed_of(self, wave: Wave, n: int) -> int:
        """:meth:`max_failed_for` when ``wave`` has ``n`` servers (known at preflight when
        ServerTags select them)."""
        return tolerated_failures(*self.tolerance_of(wave), n)

    def levels(self) -> list[list[int]]:
        """Waves grouped by the earliest step they can run in (a topological layering)."""
        depth: dict[int, int] = {}
        deps = self._dependency_map()
        # Iterative depth-first walk: a chain of thousands of waves must not recurse.
        for root in sorted(deps):
            stack, expanded = [root], set()
            while stack:
                n = stack[-1]
                if n in depth:
                    stack.pop()
                    continue
                todo = [d for d in deps[n] if d not in depth]
                if not todo:
                    depth[n] = 1 + max((depth[d] for d in deps[n]), default=-1)
                    stack.pop()
                elif n in expanded:  # only reachable again through itself
                    raise ValueError(f"wave {n} is part of a dependency cycle")
                else:
                    expanded.add(n)
                    stack.extend(todo)
        out: list[list[int]] = [[] for _ in range(max(depth.values()) + 1)]
        for n in sorted(depth):
            out[depth[n]].append(n)
        return out

    def longest_chain(self) -> list[int]:
        """The longest path of dependent waves, first wave first."""
        deps = self._dependency_map()
        order = [n for layer in self.levels() for n in layer]
        length: dict[int, int] = {}
        before: dict[int, int | None] = {}  # the dependency the longest chain comes through
        for n in order:
            via = max(deps[n], key=length.__getitem__, default=None)
            before[n] = via
            length[n] = 1 + (length[via] if via is not None else 0)
        chain: list[int] = []
        at: int | None = max(order, key=length.__getitem__)
        while at is not None:
            chain.append(at)
            at = before[at]
        return chain[::-1]

    def job_count(self, wave: Wave) -> int:
        """DRS jobs a wave needs: one per server when SEQUENTIAL, chunks of 100 when PARALLEL."""
        n = len(wave.listed_ids)
        if wave.execution_type == "SEQUENTIAL":
            return n
        return -(-n // DRS_MAX_SERVERS_PER_JOB)
