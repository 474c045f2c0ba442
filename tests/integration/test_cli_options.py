"""Numeric options are range-checked by click's option parser (issue 7): a bad value is
click's one-line usage error and exit 2, before the command runs — no traceback, no store
file, no socket, no simulated region."""

from __future__ import annotations

import math
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from drsorch.cli import EXIT_BAD_INPUT, main
from drsorch.cli.params import (
    MAX_HISTORY_LIMIT,
    MAX_POLL_SECONDS,
    MAX_SEED,
    MAX_SERVERS,
    MAX_SPEED,
    MIN_POLL_SECONDS,
    MIN_SPEED,
    SEED,
    SPEED,
    FiniteFloatRange,
)
from drsorch.sim.server import SimServer

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "examples" / "three-tier.yaml"


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env={"DRSORCH_DEBUG": ""})
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def assert_usage_error(result: Result, option: str) -> None:
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert result.stdout == ""
    assert f"Invalid value for '{option}'" in result.stderr, result.stderr
    [line] = result.stderr.splitlines()  # one line, saying where to read more
    assert line.startswith("error: ") and line.endswith("--help')"), line


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["bogus"], "error: No such command 'bogus' (see 'drsorch --help')"),
        (["--bogus"], "error: No such option '--bogus' (see 'drsorch --help')"),
        (["run"], "error: Missing argument 'PLAN' (see 'drsorch run --help')"),
        (
            ["history", "--plan"],
            "error: Option '--plan' requires an argument (see 'drsorch history --help')",
        ),
        (
            ["run", str(EXAMPLE), "--seed", "nan"],
            "error: Invalid value for '--seed': 'nan' is not a valid whole number "
            "(see 'drsorch run --help')",
        ),
        (
            ["approve", "abc", "--wave", "0"],
            "error: Invalid value for '--wave': 0 is not in the range 1<=x<=10000 "
            "(see 'drsorch approve --help')",
        ),
    ],
)
def test_a_usage_error_is_one_line(args: list[str], said: str) -> None:
    result = CliRunner().invoke(main, args, prog_name="drsorch")
    assert (result.exit_code, result.stdout, result.stderr) == (EXIT_BAD_INPUT, "", said + "\n")


# -- drsorch run ---------------------------------------------------------------------------------

BAD_SPEEDS = ["nan", "NaN", "inf", "-inf", "1e-300", "0", "-1", "1e7", "1e309", "fast", ""]


@pytest.mark.parametrize("value", BAD_SPEEDS)
def test_run_refuses_a_bad_speed(tmp_path: Path, value: str) -> None:
    store = tmp_path / "h.db"
    result = invoke("run", str(EXAMPLE), "--speed", value, "--store", str(store))
    assert_usage_error(result, "--speed")
    assert not store.exists()


@pytest.mark.parametrize("value", ["-1", str(MAX_SEED + 1), "1" + "0" * 30, "1.5", "seed"])
def test_run_refuses_a_bad_seed(tmp_path: Path, value: str) -> None:
    store = tmp_path / "h.db"
    result = invoke("run", str(EXAMPLE), "--seed", value, "--store", str(store))
    assert_usage_error(result, "--seed")
    assert not store.exists()


@pytest.mark.parametrize("value", ["nan", "inf", "0", "4.9", "301", "-30", "often", ""])
def test_run_refuses_a_bad_poll_interval(tmp_path: Path, value: str) -> None:
    store = tmp_path / "h.db"
    result = invoke("run", str(EXAMPLE), "--poll-seconds", value, "--store", str(store))
    assert_usage_error(result, "--poll-seconds")
    assert not store.exists()


@pytest.mark.parametrize("value", [MIN_POLL_SECONDS, MAX_POLL_SECONDS])
def test_run_polls_at_the_bounds(tmp_path: Path, value: float) -> None:
    result = invoke(
        "run", str(EXAMPLE), "--poll-seconds", str(value), "--json", "--store", str(tmp_path / "h")
    )
    assert result.exit_code == 0, result.stderr


def test_run_accepts_the_bounds() -> None:
    """The extremes pass the parser (--aws refuses them next, proving they were parsed)."""
    for args in (("--speed", str(MIN_SPEED)), ("--speed", "1e6"), ("--seed", str(MAX_SEED))):
        result = invoke("run", str(EXAMPLE), "--aws", *args)
        assert result.exit_code == EXIT_BAD_INPUT
        assert "for the simulator" in result.stderr


def test_run_seed_bounds_still_run(tmp_path: Path) -> None:
    result = invoke(
        "run", str(EXAMPLE), "--seed", str(MAX_SEED), "--json", "--store", str(tmp_path / "h.db")
    )
    assert result.exit_code == 0, result.stderr


def test_help_states_the_bounds() -> None:
    text = " ".join(invoke("run", "--help").stdout.split())
    assert f"[{MIN_SPEED}<=x<={MAX_SPEED}]" in text
    assert f"[0<=x<={MAX_SEED}]" in text
    assert f"[{MIN_POLL_SECONDS}<=x<={MAX_POLL_SECONDS}]" in text
    text = " ".join(invoke("history", "--help").stdout.split())
    assert f"1<=x<={MAX_HISTORY_LIMIT}]" in text
    text = " ".join(invoke("sim", "serve", "--help").stdout.split())
    assert "0<=x<=65535]" in text and f"[0<=x<={MAX_SERVERS}]" in text


# -- drsorch history -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-5", str(MAX_HISTORY_LIMIT + 1), str(10**23), "many"])
def test_history_refuses_a_bad_limit(tmp_path: Path, value: str) -> None:
    store = tmp_path / "h.db"
    result = invoke("history", "--limit", value, "--store", str(store))
    assert_usage_error(result, "--limit")
    assert not store.exists()


def test_history_accepts_the_largest_limit(tmp_path: Path) -> None:
    result = invoke(
        "history", "--limit", str(MAX_HISTORY_LIMIT), "--json", "--store", str(tmp_path / "h.db")
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- drsorch sim serve ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--port", "-1"),
        ("--port", "65536"),
        ("--port", "70000"),
        ("--port", "http"),
        ("--speed", "nan"),
        ("--speed", "inf"),
        ("--speed", "0"),
        ("--speed", "1e-300"),
        ("--servers", "-1"),
        ("--servers", str(MAX_SERVERS + 1)),
        ("--servers", "100000000"),
        ("--seed", "-1"),
        ("--seed", str(MAX_SEED + 1)),
    ],
)
def test_sim_serve_refuses_bad_numbers(served: list[SimServer], option: str, value: str) -> None:
    result = invoke("sim", "serve", option, value)
    assert_usage_error(result, option)
    assert served == []


def test_sim_serve_accepts_the_bounds(served: list[SimServer]) -> None:
    result = invoke(
        "sim", "serve", "--port", "0", "--speed", "1e6", "--seed", str(MAX_SEED), "--servers", "3"
    )
    assert result.exit_code == 0, result.output
    assert "3 source servers" in result.stdout and len(served) == 1


def test_sim_serve_refuses_too_many_servers_in_all(tmp_path: Path, served: list[SimServer]) -> None:
    scenario = tmp_path / "big.yaml"
    scenario.write_text(f"generate_servers: {MAX_SERVERS}\n")
    result = invoke("sim", "serve", "--port", "0", "--scenario", str(scenario), "--servers", "1")
    assert result.exit_code == EXIT_BAD_INPUT
    assert f"at most {MAX_SERVERS}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert served == []


def test_sim_serve_refuses_a_scenario_out_of_bounds(
    tmp_path: Path, served: list[SimServer]
) -> None:
    scenario = tmp_path / "huge.yaml"
    scenario.write_text("generate_servers: 100000000\n")
    result = invoke("sim", "serve", "--scenario", str(scenario))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "generate_servers" in result.stderr and str(scenario) in result.stderr
    assert served == []


@pytest.mark.parametrize("host", ["no such host.invalid", "a" * 70 + ".example"])
def test_sim_serve_cannot_listen_is_bad_input(served: list[SimServer], host: str) -> None:
    result = invoke("sim", "serve", "--port", "0", "--host", host)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "cannot listen on" in result.stderr
    assert served == []


@pytest.mark.parametrize("host", ["bad\x00host", "\x1b]0;pwned\x07", "h" * 256])
def test_sim_serve_refuses_a_host_that_is_no_name(served: list[SimServer], host: str) -> None:
    result = invoke("sim", "serve", "--port", "0", "--host", host)
    assert_usage_error(result, "--host")
    assert "\x00" not in result.stderr and "\x1b" not in result.stderr
    assert served == []


# -- every numeric option of every command ---------------------------------------------------------


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found.extend(_commands(command, path + " "))
        else:
            found.append((path, command))
    return found


def test_every_numeric_option_is_bounded() -> None:
    """No command takes a bare int or float: each numeric option has both bounds, and a
    float one refuses nan and inf."""
    numeric = 0
    for path, command in _commands(main):
        for param in command.params:
            kind = param.type
            if isinstance(kind, click.types.IntParamType | click.types.FloatParamType):
                numeric += 1
                assert isinstance(kind, click.IntRange | click.FloatRange), (path, param.name)
                assert kind.min is not None and kind.max is not None, (path, param.name)
                if isinstance(kind, click.FloatRange):
                    assert isinstance(kind, FiniteFloatRange), (path, param.name)
    assert numeric >= 6  # run --seed/--speed, history --limit, sim serve x4


def test_the_shared_types() -> None:
    assert SPEED.convert("60", None, None) == 60.0
    assert SEED.convert("0", None, None) == 0
    for value in ("nan", "inf", "-inf", str(math.inf)):
        with pytest.raises(click.BadParameter):
            SPEED.convert(value, None, None)


# -- --endpoint-url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x",
        "127.0.0.1:4610",
        "http://",
        "http://:80",
        "http://h:99999",
        "http://a b",
        "",
        "http://" + "a" * 300 + ":1",  # a label botocore would refuse later
    ],
)
@pytest.mark.parametrize("command", ["run", "resume"])
def test_a_malformed_endpoint_url_is_a_usage_error(command: str, url: str) -> None:
    target = str(EXAMPLE) if command == "run" else "0b1f2c3d-0000-4000-8000-000000000000"
    result = invoke(command, target, "--aws", "--endpoint-url", url)
    assert_usage_error(result, "--endpoint-url")


def test_an_endpoint_url_needs_aws(tmp_path: Path) -> None:
    result = invoke("run", str(EXAMPLE), "--endpoint-url", "http://127.0.0.1:4610")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "need --aws" in result.stderr and not (tmp_path / "history.db").exists()


def test_an_endpoint_botocore_refuses_from_the_environment_is_bad_input(tmp_path: Path) -> None:
    """AWS_ENDPOINT_URL reaches botocore past the option parser: still exit 2, one line."""
    result = CliRunner().invoke(
        main,
        ["run", str(EXAMPLE), "--aws", "--region", "us-east-1", "--store", str(tmp_path / "h.db")],
        env={
            "AWS_ENDPOINT_URL": "http://" + "a" * 300 + ":1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "DRSORCH_DEBUG": "",
        },
    )
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "cannot use this AWS endpoint" in result.stderr and "Traceback" not in result.output
