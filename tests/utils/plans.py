"""Recovery-plan test data: fixture files, hypothesis strategies and a seeded generator.

Stable API (engine, property and benchmark tests import these; keep the names). Every
generator returns the *raw* mapping as it would be written in a plan file (PascalCase
keys), so callers can dump it to YAML/JSON, mutate it, or pass it to
``drsorch.plan.parse_plan``.

Fixture files (``tests/fixtures/``)::

    FIXTURES_DIR                       tests/fixtures
    fixture_path(name) -> Path         "one-wave.yaml" (looked up in fixtures/plans/ first),
                                       or a path under fixtures/, e.g. "invalid/cycle.yaml"
    fixture_data(name) -> dict         the raw mapping of a fixture plan
    valid_fixture_paths() -> list[Path]   every valid plan in fixtures/plans/
    EXAMPLES_DIR, example_paths()      the repository's examples/*.yaml

Hypothesis strategies (valid plans, always accepted by ``validate_data``)::

    plans(min_waves=1, max_waves=8, max_servers_per_wave=6, dag=None, sequential=True,
          health_checks=True, target=None, shuffle_waves=None,
          healthy_within=None) -> SearchStrategy[dict]

      dag=False   no wave has an explicit dependency other than the previous wave (a chain)
      dag=True    every wave lists explicit Dependencies: a random subset of lower-numbered
                  waves (so some waves share parents and some branches run in parallel)
      dag=None    either, drawn
      Waves use non-contiguous WaveNumbers sometimes, "Wave-N" references sometimes,
      SEQUENTIAL waves with or without ExecutionOrder, WaitTimeSeconds 0-300, health-check
      overrides field by field, and optional Target / Notifications / Defaults.
      healthy_within=S   every enabled health check polls for at least S seconds
                  (PollIntervalSeconds x MaxPolls, MaxPolls raised where needed), so an
                  instance that is healthy within S seconds of its launch always passes:
                  for properties that presuppose no server fails its health check

    invalid_plans(kinds=MUTATION_KINDS, **plans_kwargs) -> SearchStrategy[Mutation]
      a valid plan broken in one way; ``Mutation.found_in(problems)`` says whether the
      validator reported it with the right field path.

Mutations (plain functions, usable without hypothesis)::

    MUTATION_KINDS: tuple[str, ...]
    mutate(data, kind, rng) -> Mutation   (data is copied, never changed in place)

Hostile perturbations (issue 7: look-alike numbers, whitespace, Unicode digits, NaN, huge
integers, control characters, hostile keys, deep nesting, type swaps)::

    PERTURBATION_KINDS, FILE_PERTURBATION_KINDS (those a YAML/JSON file can carry)
    perturb(data, kinds, rng) -> Perturbation      (data is copied, never changed in place)
    hostile_plans(kinds=PERTURBATION_KINDS, max_perturbations=2, **plans_kwargs)
        -> SearchStrategy[Perturbation]
    Perturbation.verdict   "reject" (validation must refuse; ``found_in(problems)`` checks
                           the paths), "accept" (the plan must equal ``parse_plan(original)``)
                           or "either" (a type swap may land on a valid value)
    TERMINAL_ESCAPES, UNICODE_DIGITS

Seeded generator for engine tests and benchmarks (no hypothesis, fast at 10 000 servers)::

    make_plan(seed=0, *, waves=3, servers_per_wave=2, dag=False,
              execution_type="PARALLEL", wait_seconds=0, health_check=True,
              plan_id=None) -> dict
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from hypothesis import strategies as st

from tests.utils.ids import unique_server_ids

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures"
PLAN_FIXTURES_DIR = FIXTURES_DIR / "plans"
EXAMPLES_DIR = REPO_ROOT / "examples"

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
WAVE_NAMES = ("Database", "Cache", "Application", "Queue", "Web", "Batch", "Reporting", "Auth")

# -- fixture files ---------------------------------------------------------------------------


def fixture_path(name: str) -> Path:
    """The path of a fixture file; plans are looked up in fixtures/plans/ first."""
    for candidate in (PLAN_FIXTURES_DIR / name, FIXTURES_DIR / name):
        if candidate.is_file():
            return candidate
    known = sorted(str(p.relative_to(FIXTURES_DIR)) for p in FIXTURES_DIR.rglob("*.*"))
    raise FileNotFoundError(f"no fixture {name!r}; known: {', '.join(known)}")


def fixture_data(name: str) -> dict[str, Any]:
    """The raw mapping of a fixture plan (YAML or JSON: JSON is YAML)."""
    data = yaml.safe_load(fixture_path(name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), name
    return data


def valid_fixture_paths() -> list[Path]:
    """Every valid plan fixture (fixtures/plans/*.yaml|*.json)."""
    return sorted(p for p in PLAN_FIXTURES_DIR.iterdir() if p.suffix in {".yaml", ".json"})


def example_paths() -> list[Path]:
    return sorted(EXAMPLES_DIR.glob("*.yaml"))


# -- hypothesis strategies -----------------------------------------------------------------


def _account_id() -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=12, max_size=12)


def _health_override() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "Enabled": st.booleans(),
            "PollIntervalSeconds": st.integers(1, 120),
            "MaxPolls": st.integers(1, 30),
            "Require": st.sampled_from(["RUNNING", "STATUS_OK"]),
        },
    )


@st.composite
def _target(draw: st.DrawFn) -> dict[str, Any]:
    account = draw(_account_id())
    target: dict[str, Any] = {"AccountId": account}
    if draw(st.booleans()):
        target["Region"] = draw(st.sampled_from(REGIONS))
    if draw(st.booleans()):
        target["RoleArn"] = f"arn:aws:iam::{account}:role/DrsOrchestratorRole"
        if draw(st.booleans()):
            target["ExternalId"] = draw(st.text(_ID_CHARS, min_size=2, max_size=20))
    return target


def _ref(draw: st.DrawFn, number: int) -> int | str:
    return draw(st.sampled_from([number, number, f"Wave-{number}", f"wave{number}"]))


@st.composite
def plans(
    draw: st.DrawFn,
    min_waves: int = 1,
    max_waves: int = 8,
    max_servers_per_wave: int = 6,
    dag: bool | None = None,
    sequential: bool = True,
    health_checks: bool = True,
    target: bool | None = None,
    shuffle_waves: bool | None = None,
    healthy_within: float | None = None,
) -> dict[str, Any]:
    """A random *valid* raw plan (see the module docstring for the knobs)."""
    n = draw(st.integers(min_waves, max_waves))
    if draw(st.booleans()):
        numbers = list(range(1, n + 1))
    else:
        numbers = sorted(draw(st.sets(st.integers(1, 10 * max_waves), min_size=n, max_size=n)))
    sizes = [draw(st.integers(1, max_servers_per_wave)) for _ in numbers]
    # Server ids from a drawn seed: hypothesis has nothing to learn from their characters,
    # and drawing 17 characters each would make every example large and slow.
    servers = unique_server_ids(sum(sizes), random.Random(draw(st.integers(0, 2**32))))
    is_dag = draw(st.booleans()) if dag is None else dag

    waves: list[dict[str, Any]] = []
    start = 0
    for k, (number, size) in enumerate(zip(numbers, sizes, strict=True)):
        ids, start = servers[start : start + size], start + size
        wave: dict[str, Any] = {"WaveNumber": number, "ServerIds": ids}
        if draw(st.booleans()):
            wave["WaveName"] = f"{draw(st.sampled_from(WAVE_NAMES))} tier {number}"
        if is_dag:
            earlier = numbers[:k]
            deps = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
            wave["Dependencies"] = [_ref(draw, d) for d in deps]
        elif k > 0 and draw(st.integers(0, 3)) == 0:
            wave["Dependencies"] = [_ref(draw, numbers[k - 1])]  # explicit = implicit
        elif k == 0 and draw(st.booleans()):
            wave["Dependencies"] = []
        kind = draw(st.sampled_from(["PARALLEL", "SEQUENTIAL", None] if sequential else [None]))
        if kind is not None:
            wave["ExecutionType"] = kind
        if kind == "SEQUENTIAL" and draw(st.booleans()):
            wave["ExecutionOrder"] = draw(st.permutations(range(1, size + 1)))
        if draw(st.booleans()):
            wave["WaitTimeSeconds"] = draw(st.integers(0, 300))
        if health_checks and draw(st.integers(0, 2)) == 0:
            wave["HealthCheck"] = draw(_health_override())
        if draw(st.integers(0, 5)) == 0:
            wave["PauseBefore"] = draw(st.booleans())
        waves.append(wave)

    if draw(st.booleans()) if shuffle_waves is None else shuffle_waves:
        waves = draw(st.permutations(waves))

    plan: dict[str, Any] = {
        "PlanId": draw(st.text(_ID_CHARS, min_size=1, max_size=24)),
        "PlanName": draw(st.sampled_from(["Three-tier app", "Payments", "ERP drill", "Core"])),
        "Waves": waves,
    }
    if draw(st.booleans()):
        plan["ExecutionType"] = draw(st.sampled_from(["DRILL", "RECOVERY"]))
    if draw(st.booleans()):
        plan["TimeoutSeconds"] = draw(st.integers(60, 7 * 86_400))
    if draw(st.booleans()) if target is None else target:
        plan["Target"] = draw(_target())
    if draw(st.integers(0, 3)) == 0:
        region = draw(st.sampled_from(REGIONS))
        plan["Notifications"] = {
            "SnsTopicArn": f"arn:aws:sns:{region}:{draw(_account_id())}:dr-events"
        }
    if health_checks and draw(st.booleans()):
        plan["Defaults"] = {"HealthCheck": draw(_health_override())}
    if healthy_within is not None:
        _give_health_checks_time(plan, healthy_within)
    return plan


def _give_health_checks_time(plan: dict[str, Any], seconds: float) -> None:
    """Raise MaxPolls (never the interval) of every wave whose enabled health check, as the
    engine resolves it (built-in <- Defaults <- wave), polls for less than ``seconds``."""
    from drsorch.plan import parse_plan

    parsed = parse_plan(plan)
    for raw in plan["Waves"]:
        check = parsed.health_check_for(parsed.wave(int(raw["WaveNumber"])))
        if check.enabled and check.poll_interval_seconds * check.max_polls < seconds:
            polls = math.ceil(seconds / check.poll_interval_seconds)
            raw["HealthCheck"] = {**raw.get("HealthCheck", {}), "MaxPolls": polls}


# -- invalid mutations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """A plan broken in one known way, and the problem the validator must report."""

    kind: str
    data: dict[str, Any]
    path: str  # e.g. "Waves[2].Dependencies[0]"
    fragment: str  # a piece of the message, e.g. "does not exist"

    @property
    def expected(self) -> str:
        return f"{self.path}: ...{self.fragment}..."

    def found_in(self, problems: Iterable[str]) -> bool:
        return any(p.startswith(self.path + ": ") and self.fragment in p for p in problems)


def _number(wave: dict[str, Any]) -> int:
    return int(wave["WaveNumber"])


def _two(rng: random.Random, waves: list[Any]) -> tuple[int, int]:
    i, j = sorted(rng.sample(range(len(waves)), 2))
    return i, j


def _ensure_two_waves(data: dict[str, Any], rng: random.Random) -> None:
    waves = data["Waves"]
    if len(waves) < 2:
        number = max(_number(w) for w in waves) + 1
        used = {s for w in waves for s in w["ServerIds"]}
        fresh = next(s for s in unique_server_ids(len(used) + 1, rng) if s not in used)
        waves.append({"WaveNumber": number, "ServerIds": [fresh]})


def _cycle(data: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    _ensure_two_waves(data, rng)
    waves = data["Waves"]
    i, j = _two(rng, waves)
    a, b = _number(waves[i]), _number(waves[j])
    waves[j]["Dependencies"] = [a]
    # Keep i's own dependencies: the only new cycle is a -> b -> a either way.
    own = waves[i].get("Dependencies")
    waves[i]["Dependencies"] = [*(own if own is not None else []), b]
    lo, hi = min(a, b), max(a, b)
    return "Waves", f"dependency cycle {lo} -> {hi} -> {lo}"


def _duplicate_server(data: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    j = rng.randrange(i, len(waves))
    sid = rng.choice(waves[i]["ServerIds"])
    waves[j]["ServerIds"].append(sid)
    where = "earlier in this wave" if i == j else f"in wave {_number(waves[i])}"
    return f"Waves[{j}].ServerIds[{len(waves[j]['ServerIds']) - 1}]", f"{sid} is already {where}"


def _append_dependency(wave: dict[str, Any], ref: int | str) -> int:
    deps = wave.get("Dependencies")
    wave["Dependencies"] = [*(deps if deps is not None else []), ref]
    return len(wave["Dependencies"]) - 1


def _missing_dependency(data: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    missing = max(_number(w) for w in waves) + rng.randint(1, 50)
    k = _append_dependency(waves[i], rng.choice([missing, f"Wave-{missing}"]))
    return f"Waves[{i}].Dependencies[{k}]", f"wave {missing} does not exist"


def _self_dependency(data: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    n = _number(waves[i])
    k = _append_dependency(waves[i], n)
    return f"Waves[{i}].Dependencies[{k}]", f"wave {n} depends on itself"


_BAD_SERVER_IDS = (
    "s-123",  # too short
    "s-0123456789abcdef01",  # 18 characters
    "S-0123456789abcdef0",  # capital S
    "i-0123456789abcdef0",  # an instance id
    "s-0123456789abcde_0",  # not alphanumeric
    "0123456789abcdef012",  # no prefix
)


def _corrupt_server_id(data: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    j = rng.randrange(len(waves[i]["ServerIds"]))
    waves[i]["ServerIds"][j] = rng.choice(_BAD_SERVER_IDS)
    return f"Waves[{i}].ServerIds[{j}]", "is not a DRS source server id"


def _broken_order(data: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    wave = waves[i]
    n = len(wave["ServerIds"])
    if rng.random() < 0.2:
        wave.pop("ExecutionType", None)  # PARALLEL by default: no order allowed
        wave["ExecutionOrder"] = list(range(1, n + 1))
        return f"Waves[{i}].ExecutionOrder", "only a SEQUENTIAL wave has a launch order"
    wave["ExecutionType"] = "SEQUENTIAL"
    good = list(range(1, n + 1))
    broken = rng.choice(
        [
            [*good, n + 1],  # one too many
            good[:-1] if n > 1 else [2],  # one missing (or out of range)
            [1, *good[:-1]] if n > 1 else [0],  # a duplicate (or zero)
            [p + 1 for p in good],  # 0-based confusion shifted out of range
        ]
    )
    wave["ExecutionOrder"] = broken
    return f"Waves[{i}].ExecutionOrder", "is not a permutation"


def _duplicate_wave_number(data: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    _ensure_two_waves(data, rng)
    waves = data["Waves"]
    i, j = _two(rng, waves)
    n = _number(waves[i])
    waves[j]["WaveNumber"] = n
    return f"Waves[{j}].WaveNumber", f"wave {n} is already defined at Waves[{i}]"


def _unknown_field(data: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    field = rng.choice(["Bogus", "WaitTime", "Servers", "DependsOn", "ExecutionMode"])
    waves = data["Waves"]
    where = rng.choice(["plan", "wave", "target", "health"])
    if where == "plan":
        data[field] = 1
        return field, "unknown field"
    if where == "target":
        data.setdefault("Target", {"AccountId": "111122223333"})[field] = 1
        return f"Target.{field}", "unknown field"
    i = rng.randrange(len(waves))
    if where == "health":
        waves[i].setdefault("HealthCheck", {})[field] = 1
        return f"Waves[{i}].HealthCheck.{field}", "unknown field"
    waves[i][field] = 1
    return f"Waves[{i}].{field}", "unknown field"


def _bad_duration(data: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    waves = data["Waves"]
    choice = rng.choice(["negative", "wait", "timeout"])
    if choice == "timeout":
        data["TimeoutSeconds"] = 7 * 86_400 + rng.randint(1, 10**6)
        return "TimeoutSeconds", "must be at most 604800"
    i = rng.randrange(len(waves))
    if choice == "negative":
        waves[i]["WaitTimeSeconds"] = -rng.randint(1, 1000)
        return f"Waves[{i}].WaitTimeSeconds", "must be at least 0"
    waves[i]["WaitTimeSeconds"] = 86_400 + rng.randint(1, 10**6)
    return f"Waves[{i}].WaitTimeSeconds", "must be at most 86400"


def _empty_wave(data: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    waves[i]["ServerIds"] = []
    waves[i].pop("ExecutionOrder", None)
    return f"Waves[{i}].ServerIds", "must not be empty"


def _missing_field(data: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    waves = data["Waves"]
    choice = rng.choice(["PlanId", "PlanName", "WaveNumber", "ServerIds"])
    if choice in {"PlanId", "PlanName"}:
        del data[choice]
        return choice, "required field is missing"
    i = rng.randrange(len(waves))
    del waves[i][choice]
    waves[i].pop("ExecutionOrder", None)
    return f"Waves[{i}].{choice}", "required field is missing"


_MUTATORS: dict[str, Callable[[dict[str, Any], random.Random], tuple[str, str]]] = {
    "cycle": _cycle,
    "duplicate_server": _duplicate_server,
    "missing_dependency": _missing_dependency,
    "self_dependency": _self_dependency,
    "corrupt_server_id": _corrupt_server_id,
    "broken_order": _broken_order,
    "duplicate_wave_number": _duplicate_wave_number,
    "unknown_field": _unknown_field,
    "bad_duration": _bad_duration,
    "empty_wave": _empty_wave,
    "missing_field": _missing_field,
}
MUTATION_KINDS: tuple[str, ...] = tuple(_MUTATORS)


def mutate(data: dict[str, Any], kind: str, rng: random.Random) -> Mutation:
    """A copy of a valid raw plan broken in one way (``kind`` from MUTATION_KINDS)."""
    broken = copy.deepcopy(data)
    path, fragment = _MUTATORS[kind](broken, rng)
    return Mutation(kind, broken, path, fragment)


@st.composite
def invalid_plans(
    draw: st.DrawFn, kinds: Iterable[str] = MUTATION_KINDS, **plans_kwargs: Any
) -> Mutation:
    """A valid generated plan broken by one mutation drawn from ``kinds``."""
    kind = draw(st.sampled_from(sorted(kinds)))
    data = draw(plans(**plans_kwargs))
    return mutate(data, kind, random.Random(draw(st.integers(0, 2**32))))


# -- seeded generator ----------------------------------------------------------------------


def make_plan(
    seed: int = 0,
    *,
    waves: int = 3,
    servers_per_wave: int = 2,
    dag: bool = False,
    execution_type: Literal["PARALLEL", "SEQUENTIAL", "MIXED"] = "PARALLEL",
    wait_seconds: int | tuple[int, int] = 0,
    health_check: bool = True,
    plan_id: str | None = None,
) -> dict[str, Any]:
    """A valid raw plan, the same for the same arguments; 100 waves x 100 servers in ms.

    ``dag=False``: waves 1..N in a chain (Dependencies omitted). ``dag=True``: wave 1 has
    none, every later wave depends on 1-3 random earlier waves. ``execution_type="MIXED"``
    alternates PARALLEL (odd waves) and SEQUENTIAL with a shuffled ExecutionOrder (even).
    ``wait_seconds`` is a fixed WaitTimeSeconds or a (low, high) range drawn per wave.
    ``health_check=False`` disables health checks in Defaults.
    """
    rng = random.Random(seed)
    servers = unique_server_ids(waves * servers_per_wave, rng)
    out: list[dict[str, Any]] = []
    for k in range(waves):
        number = k + 1
        ids = servers[k * servers_per_wave : (k + 1) * servers_per_wave]
        wave: dict[str, Any] = {
            "WaveNumber": number,
            "WaveName": f"{WAVE_NAMES[k % len(WAVE_NAMES)]} {number}",
            "ServerIds": ids,
        }
        if dag:
            earlier = list(range(1, number))
            wave["Dependencies"] = sorted(rng.sample(earlier, min(len(earlier), rng.randint(1, 3))))
        kind = execution_type
        if kind == "MIXED":
            kind = "SEQUENTIAL" if number % 2 == 0 else "PARALLEL"
        wave["ExecutionType"] = kind
        if kind == "SEQUENTIAL":
            order = list(range(1, len(ids) + 1))
            rng.shuffle(order)
            wave["ExecutionOrder"] = order
        wait = wait_seconds if isinstance(wait_seconds, int) else rng.randint(*wait_seconds)
        wave["WaitTimeSeconds"] = wait
        out.append(wave)
    return {
        "PlanId": plan_id or f"generated-{seed}",
        "PlanName": f"Generated plan {seed} ({waves} waves x {servers_per_wave} servers)",
        "ExecutionType": "DRILL",
        "Defaults": {"HealthCheck": {"Enabled": health_check}},
        "Waves": out,
    }


# -- hostile perturbations (issue 7) -------------------------------------------------------
#
# A valid plan with one value replaced by something a hostile or careless author writes:
# coercible look-alikes (1.0, "1", " 5 ", "yes"), Unicode digits, NaN, huge integers,
# control characters, deep nesting, keys that are escape sequences. Each perturbation says
# whether validation must refuse it (and at which field path), must accept it (and then the
# plan is exactly the unperturbed one), or may do either (a type swap into an optional field).

#: Escape sequences that retitle, recolour or clear a terminal.
TERMINAL_ESCAPES = ("\x1b]0;pwned\x07", "\x1b[2J", "\x1b[31mred\x1b[0m", "\x9b31m", "\u202eevil")
#: Decimal digits that are not ASCII (Arabic-Indic, Devanagari, fullwidth).
UNICODE_DIGITS = tuple(
    "".join(chr(base + d) for d in range(10)) for base in (0x0660, 0x0966, 0xFF10)
)


def _udigits(n: int, rng: random.Random) -> str:
    table = rng.choice(UNICODE_DIGITS)
    return "".join(table[int(c)] for c in str(abs(n)))


def _int_or(value: Any, default: int) -> int:
    """``value`` if an earlier perturbation left it a plain integer a float can hold (a
    huge integer from another perturbation would overflow ``float(n)``), else ``default``."""
    return value if type(value) is int and abs(value) < 2**53 else default


@dataclass(frozen=True)
class Perturbation:
    """A plan changed in one or more hostile ways, and what validation must make of it."""

    kinds: tuple[str, ...]
    data: dict[str, Any]
    paths: tuple[str, ...]  # field path of each refused change (empty when accepted)
    verdict: Literal["reject", "accept", "either"]
    original: dict[str, Any]  # the valid plan before the changes
    in_memory_only: bool = False  # holds a value no file can carry (an int of 5000 digits)

    def found_in(self, problems: Iterable[str]) -> bool:
        """Each refused change is reported at its path (or at a path inside it)."""
        problems = list(problems)
        return all(any(p.startswith(path) for p in problems) for path in self.paths)


_Perturbed = tuple[str | None, Literal["reject", "accept", "either"]]


def _int_fields(data: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], str, str]:
    """A (container, key, path) of an integer field of the plan, created when absent."""
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    choice = rng.choice(["WaitTimeSeconds", "TimeoutSeconds", "MaxPolls", "PollIntervalSeconds"])
    if choice == "TimeoutSeconds":
        data.setdefault("TimeoutSeconds", 3600)
        return data, "TimeoutSeconds", "TimeoutSeconds"
    if choice == "WaitTimeSeconds":
        waves[i].setdefault("WaitTimeSeconds", 30)
        return waves[i], "WaitTimeSeconds", f"Waves[{i}].WaitTimeSeconds"
    hc = waves[i].setdefault("HealthCheck", {})
    hc.setdefault(choice, 5)
    return hc, choice, f"Waves[{i}].HealthCheck.{choice}"


def _p_wave_number_lookalike(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    n = _int_or(waves[i]["WaveNumber"], i + 1)
    waves[i]["WaveNumber"] = rng.choice(
        [float(n), str(n), f" {n} ", f"{n}\n", f"Wave-{n}", True, _udigits(n, rng), [n]]
    )
    return f"Waves[{i}].WaveNumber", "reject"


def _p_integer_lookalike(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    where, key, path = _int_fields(data, rng)
    n = _int_or(where[key], 5)
    where[key] = rng.choice(
        [
            float(n),
            n + 0.5,
            str(n),
            f" {n} ",
            True,
            False,
            float("nan"),
            float("inf"),
            -float("inf"),
            _udigits(n, rng),
            "soon",
        ]
    )
    return path, "reject"


def _p_order_lookalike(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    w = waves[i]
    w["ExecutionType"] = "SEQUENTIAL"
    order = list(range(1, len(w["ServerIds"]) + 1))
    rng.shuffle(order)
    j = rng.randrange(len(order))
    order[j] = rng.choice([float(order[j]), str(order[j]), True, _udigits(order[j], rng)])
    w["ExecutionOrder"] = order
    return f"Waves[{i}].ExecutionOrder[{j}]", "reject"


def _p_dependency_lookalike(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    target = _int_or(rng.choice(waves)["WaveNumber"], 1)
    bad = rng.choice(
        [
            float(target),
            True,
            f"Wave-{_udigits(target, rng)}",
            _udigits(target, rng),
            f"Wave {target}",
            f"W-{target}",
            [target],
            {"Wave": target},
            None,
        ]
    )
    k = _append_dependency(waves[i], bad)
    return f"Waves[{i}].Dependencies[{k}]", "reject"


def _p_dependency_spelling(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    """A documented spelling of an existing reference: the plan must not change."""
    for w in rng.sample(data["Waves"], len(data["Waves"])):
        deps = w.get("Dependencies")
        ints = [k for k, d in enumerate(deps or []) if type(d) is int]
        if deps and ints:
            k = rng.choice(ints)
            n = deps[k]
            deps[k] = rng.choice([str(n), f"Wave-{n}", f"wave-{n}", f"Wave{n}", f" Wave-{n} "])
            break
    return None, "accept"


def _p_server_whitespace(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    """Surrounding whitespace on a server id: the same server (the model trims strings)."""
    w = rng.choice(data["Waves"])
    k = rng.randrange(len(w["ServerIds"]))
    w["ServerIds"][k] = (
        rng.choice([" ", "\t", "\n", "  "]) + w["ServerIds"][k] + rng.choice(["", " ", "\n"])
    )
    return None, "accept"


def _p_server_twice_with_whitespace(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    """The same server again, spelled with whitespace: one server in two places."""
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    j = rng.randrange(len(waves))
    k = rng.randrange(len(waves[i]["ServerIds"]))
    sid = waves[i]["ServerIds"][k].strip()
    waves[j]["ServerIds"].append(rng.choice([f" {sid}", f"{sid} ", f"\t{sid}\n"]))
    waves[j].pop("ExecutionOrder", None)
    # The later of the two places in the file is the one reported.
    later = max((i, k), (j, len(waves[j]["ServerIds"]) - 1))
    return f"Waves[{later[0]}].ServerIds[{later[1]}]", "reject"


def _p_boolean_lookalike(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    bad = rng.choice(["yes", "true", "false", "no", 1, 0, "on", 1.0])
    if rng.random() < 0.5:
        waves[i]["PauseBefore"] = bad
        return f"Waves[{i}].PauseBefore", "reject"
    waves[i].setdefault("HealthCheck", {})["Enabled"] = bad
    return f"Waves[{i}].HealthCheck.Enabled", "reject"


def _p_huge_integer(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    where, key, path = _int_fields(data, rng)
    where[key] = rng.choice([10**5000, -(10**5000), 10**40, 2**64, -(2**63)])
    return path, "reject"


def _p_unicode_digits_elsewhere(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    choice = rng.choice(["account", "region", "role", "external"])
    account = "111122223333"
    target = data.setdefault("Target", {"AccountId": account})
    if choice == "account":
        target["AccountId"] = _udigits(111122223333, rng)
        target.pop("RoleArn", None)
        return "Target.AccountId", "reject"
    if choice == "region":
        target["Region"] = f"us-east-{_udigits(1, rng)}"
        return "Target.Region", "reject"
    if choice == "role":
        target["RoleArn"] = f"arn:aws:iam::{_udigits(111122223333, rng)}:role/Dr"
        return "Target.RoleArn", "reject"
    target["ExternalId"] = f"ext-{_udigits(42, rng)}"
    return "Target.ExternalId", "reject"


def _p_control_characters(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    escape = rng.choice(TERMINAL_ESCAPES)
    choice = rng.choice(["PlanName", "WaveName", "Description", "ServerIds", "PlanId"])
    if choice in {"PlanName", "Description", "PlanId"}:
        data[choice] = rng.choice(["Payments ", ""]) + escape
        return choice, "reject"
    waves = data["Waves"]
    i = rng.randrange(len(waves))
    if choice == "WaveName":
        waves[i]["WaveName"] = "Web " + escape
        return f"Waves[{i}].WaveName", "reject"
    k = rng.randrange(len(waves[i]["ServerIds"]))
    waves[i]["ServerIds"][k] = waves[i]["ServerIds"][k][:5] + escape
    return f"Waves[{i}].ServerIds[{k}]", "reject"


def _p_hostile_key(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    key = rng.choice(["Bogus", "x y", "", "a.b", "[0]"]) + rng.choice(TERMINAL_ESCAPES)
    waves = data["Waves"]
    if rng.random() < 0.5:
        data[key] = rng.choice([1, "v", None])
        return "", "reject"  # a top-level key: the path is the (escaped) key itself
    i = rng.randrange(len(waves))
    waves[i][key] = 1
    return f"Waves[{i}]", "reject"


def _p_deep_nesting(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    value: Any = rng.choice([1, "x", None])
    for _ in range(rng.randint(40, 400)):
        value = [value] if rng.random() < 0.7 else {"k": value}
    field = rng.choice(["Description", "PlanName", "Waves[0].HealthCheck", "Waves[0].ServerIds"])
    waves = data.get("Waves")
    if not (isinstance(waves, list) and waves and isinstance(waves[0], dict)):
        field = "Description"  # an earlier change left no first wave to nest into
    if field.startswith("Waves[0]."):
        data["Waves"][0][field.removeprefix("Waves[0].")] = value
    else:
        data[field] = value
    return field, "reject"


_JUNK: tuple[Any, ...] = (None, [], {}, 1.5, -7, True, "x", [[[]]], {"a": {"b": 1}}, "\x1b[2J")


def _p_type_swap(data: dict[str, Any], rng: random.Random) -> _Perturbed:
    """Any field of the plan or of one wave gets a value of a random type."""
    waves = data["Waves"]
    whole_waves = isinstance(waves, list) and waves and all(isinstance(w, dict) for w in waves)
    if rng.random() < 0.3 or not whole_waves:  # (a second swap may find Waves swapped)
        key = rng.choice(
            [
                "PlanId",
                "PlanName",
                "ExecutionType",
                "TimeoutSeconds",
                "Target",
                "Notifications",
                "Defaults",
                "Waves",
                "Description",
            ]
        )
        data[key] = rng.choice(_JUNK)
        return key, "either"
    i = rng.randrange(len(waves))
    key = rng.choice(
        [
            "WaveNumber",
            "WaveName",
            "ServerIds",
            "ExecutionType",
            "ExecutionOrder",
            "Dependencies",
            "WaitTimeSeconds",
            "HealthCheck",
            "PauseBefore",
        ]
    )
    waves[i][key] = rng.choice(_JUNK)
    return f"Waves[{i}]", "either"


_PERTURBERS: dict[str, Callable[[dict[str, Any], random.Random], _Perturbed]] = {
    "wave_number_lookalike": _p_wave_number_lookalike,
    "integer_lookalike": _p_integer_lookalike,
    "order_lookalike": _p_order_lookalike,
    "dependency_lookalike": _p_dependency_lookalike,
    "dependency_spelling": _p_dependency_spelling,
    "server_whitespace": _p_server_whitespace,
    "server_twice_with_whitespace": _p_server_twice_with_whitespace,
    "boolean_lookalike": _p_boolean_lookalike,
    "huge_integer": _p_huge_integer,
    "unicode_digits": _p_unicode_digits_elsewhere,
    "control_characters": _p_control_characters,
    "hostile_key": _p_hostile_key,
    "deep_nesting": _p_deep_nesting,
    "type_swap": _p_type_swap,
}
PERTURBATION_KINDS: tuple[str, ...] = tuple(_PERTURBERS)
#: Perturbations whose result a YAML or JSON file can carry (no 5000-digit integers).
FILE_PERTURBATION_KINDS: tuple[str, ...] = tuple(k for k in _PERTURBERS if k != "huge_integer")


def perturb(data: dict[str, Any], kinds: Iterable[str], rng: random.Random) -> Perturbation:
    """A copy of a valid raw plan changed by each perturbation of ``kinds`` in turn."""
    changed = copy.deepcopy(data)
    # Changes that replace whole structures go last, so the others find what they expect;
    # a type swap (which may replace Waves itself) after a deep nesting (which nests into
    # the first wave).
    kinds = tuple(sorted(kinds, key=lambda k: {"deep_nesting": 1, "type_swap": 2}.get(k, 0)))
    paths: list[str] = []
    verdicts: list[str] = []
    for kind in kinds:
        path, verdict = _PERTURBERS[kind](changed, rng)
        verdicts.append(verdict)
        if path is not None and verdict == "reject":
            paths.append(path)
    # A type swap may overwrite an earlier refused value with a valid one: then only
    # "either" is certain.
    verdict: Literal["reject", "accept", "either"] = (
        "either" if "either" in verdicts else "reject" if "reject" in verdicts else "accept"
    )
    # A later change can overwrite an earlier one (a type swap over a refused value): only
    # the verdict of the whole is certain, not each path.
    if len(kinds) > 1:
        paths = []
    return Perturbation(
        kinds, changed, tuple(paths), verdict, copy.deepcopy(data), "huge_integer" in kinds
    )


@st.composite
def hostile_plans(
    draw: st.DrawFn,
    kinds: Iterable[str] = PERTURBATION_KINDS,
    max_perturbations: int = 2,
    **plans_kwargs: Any,
) -> Perturbation:
    """A valid generated plan changed by 1..max_perturbations hostile perturbations."""
    data = draw(plans(**plans_kwargs))
    chosen = draw(st.lists(st.sampled_from(sorted(kinds)), min_size=1, max_size=max_perturbations))
    return perturb(data, chosen, random.Random(draw(st.integers(0, 2**32))))
