"""``drsorch run`` in-process (click's CliRunner): progress lines, the summary, --json,
the refusals of invariant 4, and the --aws wiring against moto's STS (never real AWS)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from drsorch.cli import main
from drsorch.clock import RealClock
from drsorch.errors import CredentialsError, DrsorchError, RefusedError
from drsorch.plan import load_plan
from drsorch.wiring import real_aws

EXAMPLE = Path(__file__).parents[2] / "examples" / "three-tier.yaml"


def run(*args: str, store: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["run", *args, "--store", str(store)])
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_text_run_shows_progress_then_the_summary(tmp_path: Path) -> None:
    code, out, _ = run(str(EXAMPLE), store=tmp_path / "h.db")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("DRILL of plan three-tier-app on the simulator: execution ")
    first_wave = next(i for i, line in enumerate(lines) if "wave 1 Database tier: RUNNING" in line)
    launching = next(i for i, line in enumerate(lines) if "wave 1: job drsjob-" in line)
    done = next(i for i, line in enumerate(lines) if "wave 1 Database tier: COMPLETED" in line)
    assert first_wave < launching < done
    assert "COMPLETED" in out and "Duration" in out and "Errors" in out


def test_json_run_prints_only_the_record(tmp_path: Path) -> None:
    code, out, _ = run(str(EXAMPLE), "--json", store=tmp_path / "h.db")
    assert code == 0
    record = json.loads(out)
    assert record["Status"] == "COMPLETED" and record["ServerCount"] == 6
    from drsorch.store import SqliteStore

    with SqliteStore(tmp_path / "h.db") as store:  # a simulated run cannot be resumed,
        assert store.get_state(record["ExecutionId"]) is None  # so it keeps no state


def test_a_simulated_run_dates_its_lease_by_the_wall_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulated clock runs hours ahead of the wall in a second; the lease says how
    long the process may be silent, so it ends 2 minutes after the wall's now, never
    hours ahead (a killed engine's execution could not be taken over until then)."""
    import time

    from drsorch.keeping import Keeper
    from drsorch.ownership import DEFAULT_LEASE_SECONDS

    leases: list[float] = []
    real_save = Keeper.save

    def save(self: Keeper, *args: Any, **kwargs: Any) -> None:
        if self._lease is not None:
            leases.append(self._lease.expires_at - time.time())
        real_save(self, *args, **kwargs)

    monkeypatch.setattr(Keeper, "save", save)
    code, out, _ = run(str(EXAMPLE), "--json", store=tmp_path / "h.db")
    record = json.loads(out)
    assert code == 0 and record["Duration"] > 3600  # hours of simulated time
    assert leases and all(0 < left <= DEFAULT_LEASE_SECONDS + 1 for left in leases), leases


def test_failed_run_exits_1_and_names_the_server(tmp_path: Path) -> None:
    scenario = tmp_path / "fail.yaml"
    scenario.write_text(
        yaml.safe_dump({"faults": [{"kind": "launch_failure", "server_id": "s-1a2b3c4d5e6f7a8b9"}]})
    )
    code, out, _ = run(str(EXAMPLE), "--sim", str(scenario), store=tmp_path / "h.db")
    assert code == 1
    assert "s-1a2b3c4d5e6f7a8b9" in out and "FAILED" in out and "SKIPPED" in out


def recovery_plan(tmp_path: Path) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["ExecutionType"] = "RECOVERY"
    path = tmp_path / "recovery.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ((), "is a RECOVERY"),
        (("--recovery",), "needs confirmation"),
        (("--recovery", "--drill"), "contradict"),
        (("--profile", "p"), "need --aws"),
        (("--speed", "0"), "Invalid value for '--speed'"),
        (("--aws", "--sim", "x.yaml"), "for the simulator"),
        (("--aws", "--seed", "3"), "for the simulator"),
    ],
)
def test_refusals_exit_2_and_record_nothing(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    store = tmp_path / "h.db"
    code, out, err = run(str(recovery_plan(tmp_path)), *flags, store=store)
    assert code == 2
    assert message in err
    assert not store.exists() or "RECOVERY" not in out


def test_confirmed_recovery_and_drill_override(tmp_path: Path) -> None:
    plan = str(recovery_plan(tmp_path))
    code, out, _ = run(plan, "--recovery", "--yes", "--json", store=tmp_path / "h.db")
    assert code == 0 and json.loads(out)["ExecutionType"] == "RECOVERY"
    code, out, _ = run(plan, "--drill", "--json", store=tmp_path / "h.db")
    assert code == 0 and json.loads(out)["ExecutionType"] == "DRILL"


def test_aws_wiring_uses_the_callers_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """--aws is wired: the account and ARN come from STS (moto here, never real AWS)."""
    moto = pytest.importorskip("moto")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    plan = load_plan(EXAMPLE)
    with moto.mock_aws():
        world = real_aws(plan, profile=None, region="us-east-1", clock=RealClock())
        assert world.options.source_account_id == "123456789012"
        assert world.options.initiated_by.startswith("arn:aws:sts::123456789012:")
        assert world.options.region == "us-east-1" and world.sim is None
        assert world.options.save_every == 0.0  # every record change is saved
        other = plan.model_copy(
            update={"target": plan.target.__class__(account_id="111122223333")}
            if plan.target
            else {
                "target": __import__("drsorch.plan", fromlist=["Target"]).Target(
                    account_id="111122223333"
                )
            }
        )
        with pytest.raises(RefusedError, match="111122223333"):
            real_aws(other, profile=None, region="us-east-1", clock=RealClock())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("faults: [", "YAML syntax error at line"),
        ("faults:\n  - kind: nope\n", "faults.0.kind: Input should be"),
        ("- just a list\n", "a scenario must be a mapping"),
        (None, "cannot read"),
    ],
)
def test_bad_scenario_is_bad_input(tmp_path: Path, content: str | None, message: str) -> None:
    """A scenario the simulator cannot use is exit 2 with one line, as a bad plan is."""
    scenario = tmp_path / "scenario.yaml"
    if content is not None:
        scenario.write_text(content)
    code, _, err = run(str(EXAMPLE), "--sim", str(scenario), store=tmp_path / "h.db")
    assert code == 2
    assert message in err and str(scenario) in err
    assert len(err.strip().splitlines()) == 1


# -- credentials, profiles, config: the operator's input, exit 2 (issue 7) --------------------


@pytest.fixture
def aws_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    """No AWS credentials anywhere: empty config and credentials files of our own, no
    instance metadata, and any HTTP request botocore tries fails the test (no network)."""
    import botocore.httpsession

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[default]\nregion = us-east-1\n")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def no_network(self: Any, request: Any) -> Any:
        raise AssertionError(f"a test tried the network: {request.url}")

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", no_network)
    return config, credentials


def run_aws(tmp_path: Path, *flags: str) -> tuple[int, str, str]:
    store = tmp_path / "h.db"
    code, out, err = run(str(EXAMPLE), "--aws", *flags, store=store)
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    return code, out, err


def test_an_unknown_profile_is_bad_input(aws_files: tuple[Path, Path], tmp_path: Path) -> None:
    code, _, err = run_aws(tmp_path, "--profile", "NOSUCH")
    assert code == 2
    assert "no AWS profile 'NOSUCH'" in err and str(aws_files[0]) in err


def test_no_credentials_is_bad_input(aws_files: tuple[Path, Path], tmp_path: Path) -> None:
    code, _, err = run_aws(tmp_path, "--region", "us-east-1")
    assert code == 2
    assert "no AWS credentials found" in err


@pytest.mark.parametrize(
    "content", ["[default\nregion = us-east-1\n", "[default]\n  = x\n\x00\n", "[default]\nregion"]
)
def test_an_unreadable_config_is_bad_input(
    aws_files: tuple[Path, Path], tmp_path: Path, content: str
) -> None:
    aws_files[0].write_text(content)
    code, _, err = run_aws(tmp_path, "--region", "us-east-1")
    assert code == 2
    assert "the AWS configuration cannot be used" in err or "no AWS credentials" in err


def test_a_failing_credential_process_is_bad_input(
    aws_files: tuple[Path, Path], tmp_path: Path
) -> None:
    aws_files[0].write_text("[profile broken]\nregion = us-east-1\ncredential_process = false\n")
    code, _, err = run_aws(tmp_path, "--profile", "broken")
    assert code == 2
    assert "could not obtain AWS credentials" in err and "custom-process" in err


def test_a_malformed_region_is_bad_input(aws_files: tuple[Path, Path], tmp_path: Path) -> None:
    code, _, err = run_aws(tmp_path, "--region", "us east 1")
    assert code == 2
    assert "AWS region" in err


@pytest.mark.parametrize(
    ("failure", "status", "kind"),
    [
        ("InvalidClientTokenId", 403, CredentialsError),
        ("ExpiredToken", 403, CredentialsError),
        ("AccessDenied", 403, CredentialsError),
        ("InternalFailure", 500, RefusedError),
        ("Throttling", 400, RefusedError),
        ("EndpointConnectionError", 0, RefusedError),
    ],
)
def test_sts_failures_are_bad_input_not_bugs(
    failure: str, status: int, kind: type[Exception]
) -> None:
    """Whatever STS answers (or not) while drsorch finds out who the caller is, the run has
    not started: exit 2 with the reason, never 3."""
    import boto3
    from botocore.exceptions import EndpointConnectionError
    from botocore.stub import Stubber

    from drsorch.cli import EXIT_BAD_INPUT
    from drsorch.outcomes import exit_code_for_error as exit_code_for
    from drsorch.wiring import caller_identity

    sts = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("sts")
    with Stubber(sts) as stub:
        if failure == "EndpointConnectionError":

            def unreachable(**_: Any) -> Any:
                raise EndpointConnectionError(endpoint_url="https://sts.us-east-1.amazonaws.com")

            sts.get_caller_identity = unreachable
        else:
            stub.add_client_error("get_caller_identity", failure, "no", http_status_code=status)
        with pytest.raises(kind) as caught:
            caller_identity(sts)
    assert failure in str(caught.value) and "who you are" in str(caught.value)
    assert isinstance(caught.value, DrsorchError)
    assert exit_code_for(caught.value) == EXIT_BAD_INPUT


def test_an_interrupted_confirmation_is_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C or end of input at the RECOVERY prompt: refused (exit 2), nothing run."""
    import types

    import drsorch.cli.run as run_module

    terminal = types.SimpleNamespace(isatty=lambda: True)
    monkeypatch.setattr(run_module, "sys", types.SimpleNamespace(stdin=terminal, exit=sys.exit))

    def interrupted(*_: Any, **__: Any) -> bool:
        raise click.Abort

    monkeypatch.setattr(run_module.click, "confirm", interrupted)
    store = tmp_path / "h.db"
    code, out, err = run(str(recovery_plan(tmp_path)), "--recovery", store=store)
    assert code == 2 and out == ""
    assert "not confirmed" in err
    assert not store.exists()


def test_a_stop_at_once_says_only_what_the_store_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second Ctrl-C whose FAILED record cannot be saved is not reported as recorded:
    the run says what the store holds (RUNNING) and exits 3, the engine's failure."""
    from drsorch.errors import StoreError
    from drsorch.runner import Runner
    from drsorch.store import SqliteStore

    real_put = SqliteStore.put_parts

    def put_parts(self: SqliteStore, parts: Any, *args: Any, **kwargs: Any) -> None:
        if parts.status == "FAILED":
            raise StoreError("disk full")
        real_put(self, parts, *args, **kwargs)

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(SqliteStore, "put_parts", put_parts)
    monkeypatch.setattr(Runner, "_loop", interrupted)
    code, out, err = run(str(EXAMPLE), store=tmp_path / "h.db")
    assert code == 3
    assert "could not be recorded as FAILED: the store holds a RUNNING record" in err
    assert "could not save the final record: disk full" in out
    with SqliteStore(tmp_path / "h.db") as store:
        [record] = store.query()
    assert record.Status.value == "RUNNING"


@pytest.mark.parametrize("final_save_fails", [True, False], ids=["unsaved", "saved"])
def test_an_engine_that_broke_says_only_what_the_store_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, final_save_fails: bool
) -> None:
    """An internal error whose FAILED record cannot be saved (a store locked for good) is
    not reported as recorded FAILED: the line says what the store holds (RUNNING)."""
    from drsorch.errors import StoreError
    from drsorch.runner import Runner
    from drsorch.store import SqliteStore

    real_put = SqliteStore.put_parts

    def put_parts(self: SqliteStore, parts: Any, *args: Any, **kwargs: Any) -> None:
        if parts.status == "FAILED" and final_save_fails:
            raise StoreError("another process holds the history store locked")
        real_put(self, parts, *args, **kwargs)

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(SqliteStore, "put_parts", put_parts)
    monkeypatch.setattr(Runner, "_loop", broken)
    code, _, err = run(str(EXAMPLE), store=tmp_path / "h.db")
    assert code == 3
    with SqliteStore(tmp_path / "h.db") as store:
        [record] = store.query()
    if final_save_fails:
        assert record.Status.value == "RUNNING"
        assert "could not be recorded as FAILED: the store holds a RUNNING record" in err
    else:
        assert record.Status.value == "FAILED"
        assert "the execution was recorded as FAILED" in err


def test_a_stop_at_once_reports_the_failed_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drsorch.runner import Runner
    from drsorch.store import SqliteStore

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, "_loop", interrupted)
    code, _, err = run(str(EXAMPLE), store=tmp_path / "h.db")
    assert code == 1
    assert "recorded as FAILED" in err and "could not" not in err
    with SqliteStore(tmp_path / "h.db") as store:
        [record] = store.query()
    assert record.Status.value == "FAILED"
