"""Reading plan files: every bad file gives one clear PlanError naming the file (and the line
for syntax errors), quickly; YAML and JSON load to the same plan."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml
from tests.utils.plans import fixture_data, fixture_path, make_plan

from drsorch.errors import PlanError
from drsorch.plan import load_plan, read_document
from drsorch.plan.loader import MAX_PLAN_BYTES

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]  # a hang fails, not blocks


def error_of(path: Path) -> PlanError:
    start = time.monotonic()
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert time.monotonic() - start < 5, "a bad file must fail fast"
    err = info.value
    assert "\n" not in str(err)
    assert str(path) in str(err)
    return err


def test_missing_file(tmp_path: Path) -> None:
    assert str(error_of(tmp_path / "nope.yaml")).endswith("nope.yaml: no such file")


def test_directory(tmp_path: Path) -> None:
    assert str(error_of(tmp_path)).endswith(": is a directory, not a plan file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "secret.yaml"
    p.write_text("PlanId: x\n")
    p.chmod(0)
    try:
        assert "cannot read" in str(error_of(p))
    finally:
        p.chmod(0o600)


def test_read_error_is_one_line_even_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root can read a chmod 000 file, so simulate the kernel saying no.
    p = tmp_path / "secret.yaml"
    p.write_text("PlanId: x\n")

    def deny(path: object, *args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "open", deny)
    assert str(error_of(p)).endswith("secret.yaml: cannot read: Permission denied")


def test_file_over_5_mb(tmp_path: Path) -> None:
    p = tmp_path / "huge.yaml"
    p.write_bytes(b"# " + b"x" * MAX_PLAN_BYTES + b"\n")
    assert "larger than the 5 MB a plan may have" in str(error_of(p))


def test_binary_junk(tmp_path: Path) -> None:
    p = tmp_path / "junk.yaml"
    p.write_bytes(os.urandom(4096) + b"\x00")
    assert str(error_of(p)).endswith("binary data, not a YAML or JSON plan")


def test_a_device_is_refused_before_it_is_read() -> None:
    assert str(error_of(Path("/dev/zero"))).endswith("/dev/zero: is a device, not a plan file")


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "latin1.yaml"
    p.write_bytes("PlanName: Café\n".encode("latin-1"))
    assert "not UTF-8 text" in str(error_of(p))


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "bom.yaml"
    p.write_bytes(b"\xef\xbb\xbf" + fixture_path("one-wave.yaml").read_bytes())
    assert load_plan(p).plan_id == "one-wave-web"


def test_yaml_syntax_error_names_the_line() -> None:
    p = fixture_path("invalid/syntax-error.yaml")
    assert str(error_of(p)).endswith(
        "syntax-error.yaml: YAML syntax error at line 6, column 15: "
        "expected ',' or ']', but got ':'"
    )


def test_json_syntax_error_names_the_line() -> None:
    p = fixture_path("invalid/syntax-error.json")
    assert "JSON syntax error at line 5, column 60" in str(error_of(p))


def test_billion_laughs_is_refused_quickly() -> None:
    msg = str(error_of(fixture_path("invalid/billion-laughs.yaml")))
    assert "refusing a possible alias bomb" in msg


def test_many_aliases_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "aliases.yaml"
    p.write_text("x: &x 1\nl: [" + ", ".join(["*x"] * 500) + "]\n")
    assert "more than 100 YAML aliases" in str(error_of(p))


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    data = fixture_data("one-wave.yaml")
    text = yaml.safe_dump(data, sort_keys=False)
    text = text.replace("WaveNumber: 1", "WaveNumber: 1\n  HealthCheck: &hc {MaxPolls: 3}")
    p = tmp_path / "anchors.yaml"
    p.write_text(text + "Defaults: {HealthCheck: *hc}\n")
    assert load_plan(p).defaults.health_check.max_polls == 3  # type: ignore[union-attr]


def test_deep_nesting_fails_cleanly(tmp_path: Path) -> None:
    p = tmp_path / "deep.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in str(error_of(p))


def test_unsafe_yaml_tags_are_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    p = tmp_path / "tag.yaml"
    p.write_text(f'PlanId: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert "could not determine a constructor" in str(error_of(p))
    assert not marker.exists()


def test_duplicate_keys_are_refused() -> None:
    msg = str(error_of(fixture_path("invalid/duplicate-key.yaml")))
    assert msg.endswith("duplicate key 'WaitTimeSeconds' at line 7")


@pytest.mark.parametrize(("text", "kind"), [("", "empty"), ("- 1\n", "a list"), ("3\n", "a int")])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    p = tmp_path / "odd.yaml"
    p.write_text(text)
    assert str(error_of(p)).endswith(f"the plan must be a mapping of fields, this file is {kind}")


def test_read_document_returns_the_raw_mapping() -> None:
    data = read_document(fixture_path("three-wave-mixed.json"))
    assert data["Waves"][2]["Dependencies"] == ["Wave-2"]


def test_yaml_and_json_of_the_same_plan_load_equal(tmp_path: Path) -> None:
    data = make_plan(3, waves=4, servers_per_wave=3, dag=True, execution_type="MIXED")
    (tmp_path / "p.json").write_text(json.dumps(data))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    assert load_plan(tmp_path / "p.json") == load_plan(tmp_path / "p.yaml")


def test_a_10000_server_plan_loads_quickly(tmp_path: Path) -> None:
    data = make_plan(1, waves=100, servers_per_wave=100)
    p = tmp_path / "big.json"
    p.write_text(json.dumps(data))
    start = time.monotonic()
    plan = load_plan(p)
    assert len(plan.all_server_ids()) == 10_000
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(("written", "number"), [("012345670123", "1402433619")])
def test_an_unquoted_account_id_that_yaml_reads_as_a_number_says_to_quote_it(
    tmp_path: Path, written: str, number: str
) -> None:
    """YAML 1.1 reads 0-prefixed digits 0-7 as octal (012345678912 stays text)."""
    text = yaml.safe_dump(make_plan(1, waves=1, servers_per_wave=1), sort_keys=False)
    path = tmp_path / "plan.yaml"
    path.write_text(f"{text}Target:\n  AccountId: {written}\n  Region: us-east-1\n")
    with pytest.raises(PlanError) as bad:
        load_plan(path)
    (problem,) = [p for p in bad.value.problems if "AccountId" in p]
    assert f"the number {number}" in problem and "write it in quotes" in problem
