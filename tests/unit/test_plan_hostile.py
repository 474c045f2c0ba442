"""Hostile and careless plans (issue 7): look-alike values cannot slip past the cross-field
rules, every reader error is one located line, nothing blocks, and nothing from the file
reaches the terminal unescaped."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from drsorch.cli import main
from drsorch.errors import PlanError
from drsorch.plan import load_plan, parse_plan, validate_data
from drsorch.text import printable

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]  # a hang fails, not blocks

A, B, C = (f"s-{c * 17}" for c in "abc")
ACCOUNT = "111122223333"


def wave(n: Any, *servers: str, **fields: Any) -> dict[str, Any]:
    return {
        "WaveNumber": n,
        "ServerIds": list(servers) or [f"s-{hash(repr(n)) % 10**17:017d}"],
        **fields,
    }


def problems(*waves: dict[str, Any], **top: Any) -> list[str]:
    data = {"PlanId": "p", "PlanName": "test", "Waves": list(waves), **top}
    plan, found = validate_data(data)
    assert (plan is None) == bool(found)
    for p in found:
        assert "\x1b" not in p and "Input should" not in p and "Value error" not in p, p
    return found


def _id(value: Any) -> str | None:
    """Test ids: pytest cannot print an integer of 5000 digits."""
    if isinstance(value, int) and value.bit_length() > 1000:
        return "huge" if value > 0 else "-huge"
    return None


def only(found: list[str]) -> str:
    assert len(found) == 1, found
    return found[0]


# -- look-alike numbers (the model is the single source of truth) --------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.0, "must be an integer, not 1.0 (write 1)"),
        ("1", "must be an integer, not the text '1' (write the number without quotes)"),
        (" 5 ", "must be an integer, not the text ' 5 ' (write the number without quotes)"),
        (True, "must be a number, not true"),
        ("Wave-1", "must be an integer, not the text 'Wave-1'"),
        ("\u0661", "must be an integer, not the text '\u0661'"),
        (1.5, "must be an integer, not 1.5"),
        (None, "must be an integer, not null (no value)"),
        ([1], "must be an integer, not a list"),
    ],
)
def test_wave_numbers_must_be_written_as_integers(value: Any, message: str) -> None:
    assert only(problems(wave(value, A))) == f"Waves[0].WaveNumber: {message}"


def test_a_float_wave_number_cannot_hide_a_duplicate() -> None:
    """Was: both waves validated as wave 1, `validate` said valid, the engine broke."""
    assert only(problems(wave(1, A), wave(1.0, B))).startswith("Waves[1].WaveNumber: must be")


def test_a_quoted_wave_number_cannot_hide_a_cycle() -> None:
    """Was: "1" became 1 in the model but not in the cycle check; `validate` then crashed
    with 'wave 1 is part of a dependency cycle' and `run` idled until its timeout."""
    found = problems(wave("1", A, Dependencies=[2]), wave(2, B, Dependencies=[1]))
    assert found == [
        "Waves[0].WaveNumber: must be an integer, not the text '1' "
        "(write the number without quotes)"
    ]


def test_a_spaced_wave_number_cannot_hide_a_missing_dependency() -> None:
    found = problems(wave(" 5 ", A), wave(1, B, Dependencies=[4]))
    assert "Waves[1].Dependencies[0]: wave 4 does not exist" in found
    assert found[0].startswith("Waves[0].WaveNumber: must be an integer")


def test_a_refused_wave_number_is_not_also_reported_as_missing() -> None:
    found = problems(wave(1.0, A), wave(2, B, Dependencies=[1]))
    assert only(found).startswith("Waves[0].WaveNumber: ")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("WaitTimeSeconds", 60.0, "must be an integer, not 60.0 (write 60)"),
        ("WaitTimeSeconds", "60", "must be an integer, not the text '60' (write the number "),
        ("WaitTimeSeconds", float("nan"), "must be an integer, not nan"),
        ("WaitTimeSeconds", float("inf"), "must be an integer, not inf"),
        ("WaitTimeSeconds", 10**5000, "must be at most 86400"),
        ("WaitTimeSeconds", -(10**5000), "must be at least 0"),
        ("PauseBefore", "yes", "must be true or false, not the text 'yes'"),
        ("PauseBefore", 1, "must be true or false, not 1"),
        ("WaveName", 7, "must be text, not 7"),
        ("ServerIds", A, f"must be a list, not the text '{A}'"),
        ("HealthCheck", [], "must be a mapping of fields, not a list"),
        ("ExecutionType", "serial", "'serial' is not accepted: did you mean SEQUENTIAL? (one of"),
        ("ExecutionType", "BATCH", "'BATCH' is not accepted: must be one of PARALLEL, "),
    ],
    ids=_id,
)
def test_wrong_values_are_named_in_our_words(field: str, value: Any, message: str) -> None:
    found = only(problems(wave(1, A, **{field: value})))
    assert found.startswith(f"Waves[0].{field}: {message}"), found


@pytest.mark.parametrize("field", ["MaxPolls", "PollIntervalSeconds"])
@pytest.mark.parametrize("value", [3.0, "3", float("nan"), True])
def test_health_check_numbers_are_integers(field: str, value: Any) -> None:
    found = only(problems(wave(1, A), Defaults={"HealthCheck": {field: value}}))
    assert found.startswith(f"Defaults.HealthCheck.{field}: must be a")


@pytest.mark.parametrize("value", ["yes", "false", 0, 1.0])
def test_booleans_are_booleans(value: Any) -> None:
    found = only(problems(wave(1, A, HealthCheck={"Enabled": value})))
    assert found.startswith("Waves[0].HealthCheck.Enabled: must be true or false, not ")


@pytest.mark.parametrize("timeout", [3600.0, "3600", float("inf"), 10**40], ids=_id)
def test_timeout_is_an_integer_in_range(timeout: Any) -> None:
    assert only(problems(wave(1, A), TimeoutSeconds=timeout)).startswith("TimeoutSeconds: must")


@pytest.mark.parametrize("ref", [3, "3", "Wave-3", "wave-3", "Wave3", "wave3", " Wave-3 "])
def test_documented_dependency_spellings_still_mean_wave_3(ref: Any) -> None:
    plan = parse_plan(
        {"PlanId": "p", "PlanName": "n", "Waves": [wave(3, A), wave(4, B, Dependencies=[ref])]}
    )
    assert plan.wave(4).dependencies == [3]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (3.0, "must be a WaveNumber or 'Wave-N', not 3.0"),
        (True, "must be a number, not true"),
        ("Wave-\u0663", "'Wave-\u0663' is not a wave reference (a WaveNumber or 'Wave-N')"),
        ("\uff13", "'\uff13' is not a wave reference"),
        ("Wave 3", "'Wave 3' is not a wave reference"),
        ("Wave-" + "9" * 5000, "is not a wave reference"),
        (10**5000, "must be at most 10000"),
        ([3], "must be a WaveNumber or 'Wave-N', not a list"),
    ],
    ids=_id,
)
def test_dependency_look_alikes_are_refused(ref: Any, message: str) -> None:
    found = only(problems(wave(3, A), wave(4, B, Dependencies=[ref])))
    assert found.startswith("Waves[1].Dependencies[0]: ") and message in found, found
    assert len(found) < 200


# -- server ids: compared as the model stores them ---------------------------------------------


def test_a_server_id_with_spaces_is_the_same_server() -> None:
    """Was: the model trimmed " s-..." but the duplicate check did not: one server, two waves."""
    assert only(problems(wave(1, A), wave(2, f" {A}\t"))) == (
        f"Waves[1].ServerIds[0]: {A} is already in wave 1"
    )
    assert only(problems(wave(1, A, f"{A} "))) == (
        f"Waves[0].ServerIds[1]: {A} is already earlier in this wave"
    )


def test_surrounding_whitespace_is_trimmed_from_server_ids() -> None:
    plan = parse_plan({"PlanId": "p", "PlanName": "n", "Waves": [wave(1, f"  {A}\n")]})
    assert plan.all_server_ids() == [A]


def test_whitespace_inside_a_server_id_is_refused() -> None:
    bad = A[:8] + "\n" + A[9:]
    found = only(problems(wave(1, bad)))
    assert found.startswith("Waves[0].ServerIds[0]: 's-aaaaaa\\naaaaaaaaaa' is not a DRS")


# -- ASCII-only patterns --------------------------------------------------------------------

ARABIC_ACCOUNT = "".join(chr(0x0660 + int(c)) for c in ACCOUNT)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("AccountId", ARABIC_ACCOUNT),
        ("AccountId", "\uff11" * 12),
        ("Region", "us-east-\u0661"),
        ("RoleArn", f"arn:aws:iam::{ARABIC_ACCOUNT}:role/Dr"),
        ("RoleArn", f"arn:aws:iam::{ACCOUNT}:role/Dr\u00e9"),
        ("ExternalId", "ext-\u0661\u0662"),
        ("ExternalId", "\u00e9t\u00e9"),
    ],
)
def test_patterns_accept_ascii_only(field: str, value: str) -> None:
    found = only(problems(wave(1, A), Target={"AccountId": ACCOUNT, field: value}))
    assert found.startswith(f"Target.{field}: ") and " is not a" in found, found


def test_unicode_digits_in_a_topic_arn_are_refused() -> None:
    topic = f"arn:aws:sns:us-east-1:{ARABIC_ACCOUNT}:dr"
    found = only(problems(wave(1, A), Notifications={"SnsTopicArn": topic}))
    assert found.startswith("Notifications.SnsTopicArn: ")


def test_role_account_is_compared_with_the_account_as_the_model_reads_it() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/Dr"
    assert problems(wave(1, A), Target={"AccountId": int(ACCOUNT), "RoleArn": f" {role} "}) == []
    other = only(problems(wave(1, A), Target={"AccountId": 999988887777, "RoleArn": role}))
    assert other == (
        f"Target.RoleArn: the role is in account {ACCOUNT}, but Target.AccountId is 999988887777"
    )


def test_a_huge_unquoted_account_id_is_described_not_converted() -> None:
    found = only(problems(wave(1, A), Target={"AccountId": 10**5000}))
    assert found.startswith("Target.AccountId: a number of about 5000 digits is not an AWS")


# -- terminal injection ---------------------------------------------------------------------

ESCAPE = "\x1b]0;pwned\x07"


@pytest.mark.parametrize("field", ["PlanName", "Description"])
def test_names_may_not_hold_control_characters(field: str) -> None:
    found = only(problems(wave(1, A), **{field: f"Payments {ESCAPE}"}))
    assert found == f"{field}: must not contain control characters (found \\x1b)"


def test_a_wave_name_with_a_bidi_override_is_refused() -> None:
    found = only(problems(wave(1, A, WaveName="Web \u202etxt.exe")))
    assert found == "Waves[0].WaveName: must not contain control characters (found \\u202e)"


def test_a_description_may_span_lines() -> None:
    assert problems(wave(1, A), Description="line one\nline two\twith a tab\r\n") == []


def test_unknown_keys_are_shown_escaped() -> None:
    found = problems(wave(1, A, **{f"Bogus{ESCAPE}": 1}), **{"x y": 1})
    assert any(p.startswith("Waves[0]['Bogus\\x1b]0;pwned\\x07']: unknown field") for p in found)
    assert any(p.startswith("['x y']: unknown field") for p in found)


def test_values_are_shown_escaped_and_short() -> None:
    found = only(problems(wave(1, A + ESCAPE + "x" * 5000)))
    assert found.startswith("Waves[0].ServerIds[0]: 's-aaaaaaaaaaaaaaaaa\\x1b]0;p...")
    assert found.endswith(
        "xxx' is not a DRS source server id ('s-' followed by 17 letters or digits)"
    )
    assert len(found) < 200


def test_a_hostile_plan_prints_nothing_raw(tmp_path: Path) -> None:
    p = tmp_path / "plan.yaml"
    data = {"PlanId": "p", "PlanName": f"n{ESCAPE}", f"K{ESCAPE}": 1, "Waves": [wave(1, A)]}
    p.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["validate", str(p)])
    assert result.exit_code == 2
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b]0;pwned\\x07" in result.stderr


def test_a_file_name_is_printed_escaped(tmp_path: Path) -> None:
    p = tmp_path / f"plan{ESCAPE}.yaml"
    p.write_text(yaml.safe_dump({"PlanId": "p", "PlanName": "n", "Waves": [wave(1, A)]}))
    result = CliRunner().invoke(main, ["validate", str(p)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "plan\\x1b]0;pwned\\x07.yaml: valid" in result.stdout


# -- in-memory oddities ---------------------------------------------------------------------


def test_recursive_structures_do_not_crash() -> None:
    loop: list[Any] = []
    loop.append(loop)
    plan, found = validate_data(
        {"PlanId": "p", "PlanName": "n", "Waves": loop, "Description": loop, "Extra": loop}
    )
    assert plan is None and found


def test_non_text_keys_in_memory_are_refused() -> None:
    plan, found = validate_data({"PlanId": "p", "PlanName": "n", "Waves": [wave(1, A)], 5: 1})
    assert plan is None and only(found).endswith("a key must be text, not 5")


@pytest.mark.parametrize("data", [[], "plan", None, 3])
def test_a_non_mapping_is_a_problem_not_a_crash(data: Any) -> None:
    plan, found = validate_data(data)
    assert plan is None and only(found).startswith("(plan): must be a mapping of fields")


def test_an_execution_order_of_huge_numbers_is_reported_briefly() -> None:
    w = wave(1, A, B, ExecutionType="SEQUENTIAL", ExecutionOrder=[10**5000, 1])
    found = only(problems(w))
    assert found == (
        "Waves[0].ExecutionOrder: [<a number of about 5000 digits>, 1] is not a permutation of "
        "1..2 (one 1-based position per server in ServerIds)"
    )


# -- reading files --------------------------------------------------------------------------


def error_of(path: Path) -> str:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    message = str(info.value)
    assert "\n" not in message and "\x1b" not in message
    assert message.startswith(printable(str(path)))
    return message


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


VALID = "PlanId: p\nPlanName: n\nWaves:\n  - WaveNumber: 1\n    ServerIds: [" + A + "]\n"


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\x7f", "\x9b", "\x01"])
def test_a_control_character_in_yaml_is_one_located_line(tmp_path: Path, char: str) -> None:
    p = write(tmp_path, "p.yaml", VALID.replace("PlanName: n", f"PlanName: n{char}"))
    msg = error_of(p)
    escaped = f"\\x{ord(char):02x}"
    assert msg.endswith(
        f"YAML does not allow the control character {escaped} (at line 2, column 12)"
    )


@pytest.mark.parametrize("digits", [20, 4301, 6000])
def test_a_huge_yaml_integer_is_refused_at_its_line(tmp_path: Path, digits: int) -> None:
    p = write(tmp_path, "p.yaml", VALID + "TimeoutSeconds: " + "9" * digits + "\n")
    msg = error_of(p)
    assert "line 6, column 17" in msg and "larger than any plan field allows" in msg


def test_a_huge_sexagesimal_yaml_integer_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", VALID + "TimeoutSeconds: " + ":".join(["59"] * 15) + "\n")
    assert "larger than any plan field allows" in error_of(p)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("? [a, b]\n: 1", "a list"),
        ("{a: 1}: x", "a mapping"),
        ("5: x", "5"),
        ("null: x", "null (no value)"),
        ("true: x", "true"),
        ("2024-01-01: x", "a date"),
    ],
)
def test_keys_must_be_text(tmp_path: Path, line: str, kind: str) -> None:
    msg = error_of(write(tmp_path, "p.yaml", VALID + line + "\n"))
    assert f"a key must be text, not {kind} (at line 6, column " in msg


def test_an_impossible_date_is_refused_at_its_line(tmp_path: Path) -> None:
    msg = error_of(write(tmp_path, "p.yaml", VALID + "Description: 2024-13-45\n"))
    assert msg.endswith(
        "the value at line 6, column 14 is not a valid date (put it in quotes if it is text)"
    )


def test_a_date_where_text_belongs_is_a_field_problem(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as info:
        load_plan(write(tmp_path, "p.yaml", VALID + "Description: 2024-01-01\n"))
    assert info.value.problems == ["Description: must be text, not a date"]


def test_yaml_merge_keys_work_and_explicit_keys_override(tmp_path: Path) -> None:
    text = (
        "PlanId: p\nPlanName: n\n"
        "Defaults: {HealthCheck: &hc {MaxPolls: 3, Require: STATUS_OK}}\n"
        "Waves:\n"
        f"  - WaveNumber: 1\n    ServerIds: [{A}]\n"
        "    HealthCheck:\n      <<: *hc\n      MaxPolls: 7\n"
    )
    plan = load_plan(write(tmp_path, "p.yaml", text))
    hc = plan.health_check_for(plan.wave(1))
    assert (hc.max_polls, hc.require) == (7, "STATUS_OK")


def test_duplicate_keys_are_still_refused_beside_a_merge(tmp_path: Path) -> None:
    text = VALID + "Defaults: {HealthCheck: {<<: {MaxPolls: 1}, MaxPolls: 2, MaxPolls: 3}}\n"
    assert "duplicate key 'MaxPolls' at line 6" in error_of(write(tmp_path, "p.yaml", text))


@pytest.mark.parametrize(
    "text",
    [
        "Deep: " + "[" * 40 + "]" * 40,
        "Deep: " + "{a: " * 40 + "1" + "}" * 40,
        "Deep: " + "[" * 100_000,
    ],
)
def test_deep_yaml_nesting_is_refused_at_its_line(tmp_path: Path, text: str) -> None:
    msg = error_of(write(tmp_path, "p.yaml", VALID + text + "\n"))
    assert "nested more than 32 levels deep at line 6, column " in msg


def test_a_recursive_yaml_alias_is_just_an_unknown_field(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as info:
        load_plan(write(tmp_path, "p.yaml", VALID + "Extra: &a [*a]\n"))
    (problem,) = info.value.problems
    assert problem.startswith("Extra: unknown field (fields here: PlanId, ")


def test_an_unknown_yaml_tag_is_shown_escaped(tmp_path: Path) -> None:
    # A tag is a URI: %1B is an escape character once decoded.
    msg = error_of(write(tmp_path, "p.yaml", VALID + "Extra: !%1B]0;x y\n"))
    assert msg.endswith("could not determine a constructor for the tag '!\\x1b]0;x'")


def json_plan(**extra: Any) -> str:
    return json.dumps({"PlanId": "p", "PlanName": "n", "Waves": [wave(1, A)], **extra}, indent=2)


def test_json_duplicate_keys_are_refused_where_they_are(tmp_path: Path) -> None:
    text = json_plan().replace('"PlanName": "n",', '"PlanName": "n",\n  "PlanId": "q",')
    assert error_of(write(tmp_path, "p.json", text)).endswith(
        "duplicate key 'PlanId' at line 4, column 3"
    )


def test_a_json_duplicate_inside_a_wave_is_located_in_that_wave(tmp_path: Path) -> None:
    data = {"PlanId": "p", "PlanName": "n", "Waves": [wave(1, A), wave(2, B)]}
    text = json.dumps(data, indent=1).replace(
        '"WaveNumber": 2,', '"WaveNumber": 2, "WaveNumber": 3,'
    )
    msg = error_of(write(tmp_path, "p.json", text))
    line, col = next(
        (i, ln.index('"WaveNumber": 3') + 1)
        for i, ln in enumerate(text.splitlines(), 1)
        if '"WaveNumber": 3' in ln
    )
    assert msg.endswith(f"duplicate key 'WaveNumber' at line {line}, column {col}")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_refused(tmp_path: Path, constant: str) -> None:
    text = json_plan(TimeoutSeconds=1).replace(
        '"TimeoutSeconds": 1', f'"TimeoutSeconds": {constant}'
    )
    msg = error_of(write(tmp_path, "p.json", text))
    assert f"{constant} is not a number JSON allows at line " in msg


@pytest.mark.parametrize("digits", [20, 4301, 6000])
def test_a_huge_json_integer_is_refused_at_its_line(tmp_path: Path, digits: int) -> None:
    text = json_plan(TimeoutSeconds=1).replace(
        '"TimeoutSeconds": 1', '"TimeoutSeconds": ' + "9" * digits
    )
    msg = error_of(write(tmp_path, "p.json", text))
    assert "a number larger than any plan field allows at line " in msg


def test_moderately_deep_json_is_refused(tmp_path: Path) -> None:
    text = json_plan().replace("{", '{"Deep": ' + "[" * 100 + "]" * 100 + ",", 1)
    assert error_of(write(tmp_path, "p.json", text)).endswith("nested more than 32 levels deep")


def test_json_floats_for_integers_are_field_problems(tmp_path: Path) -> None:
    text = json_plan().replace('"WaveNumber": 1', '"WaveNumber": 1.0')
    with pytest.raises(PlanError) as info:
        load_plan(write(tmp_path, "p.json", text))
    assert info.value.problems == ["Waves[0].WaveNumber: must be an integer, not 1.0 (write 1)"]


def test_a_json_escape_sequence_value_is_shown_escaped(tmp_path: Path) -> None:
    text = json_plan().replace('"PlanName": "n"', '"PlanName": "n\\u001b]0;x\\u0007"')
    with pytest.raises(PlanError) as info:
        load_plan(write(tmp_path, "p.json", text))
    assert info.value.problems == ["PlanName: must not contain control characters (found \\x1b)"]


# -- files that are not files ---------------------------------------------------------------


def finishes_quickly(path: Path) -> str:
    """load_plan(path) in a thread: a blocking open would hang the test, so time it out."""
    out: list[str] = []

    def target() -> None:
        try:
            load_plan(path)
        except PlanError as exc:
            out.append(str(exc))

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout=5)
    assert not t.is_alive(), f"load_plan({path}) blocked"
    assert out, "no PlanError"
    return out[0]


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.yaml"
    os.mkfifo(fifo)
    assert finishes_quickly(fifo) == f"{fifo}: is a named pipe, not a plan file"


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        assert finishes_quickly(path) == f"{path}: is a socket, not a plan file"


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero", "/dev/urandom"])
def test_devices_are_refused(device: str) -> None:
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    assert finishes_quickly(Path(device)) == f"{device}: is a device, not a plan file"


def test_a_fifo_through_a_symlink_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "plan.yaml"
    link.symlink_to(fifo)
    assert finishes_quickly(link).endswith("is a named pipe, not a plan file")


def test_a_file_swapped_for_a_fifo_after_the_stat_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is repeated on the opened descriptor (opened non-blocking)."""
    p = write(tmp_path, "p.yaml", VALID)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, flags, *a: real_open(fifo, flags, *a))
    assert finishes_quickly(p).endswith("p.yaml: is a named pipe, not a plan file")


def test_a_path_with_a_nul_is_refused(tmp_path: Path) -> None:
    msg = error_of(tmp_path / "a\x00b.yaml")
    assert msg.endswith("cannot read: the path contains a NUL character")


def test_a_dangling_symlink_is_missing(tmp_path: Path) -> None:
    link = tmp_path / "plan.yaml"
    link.symlink_to(tmp_path / "nowhere")
    assert error_of(link).endswith("plan.yaml: no such file")


def test_cli_on_look_alike_plans_exits_2_without_a_traceback(tmp_path: Path) -> None:
    paths = []
    for k, (a, b) in enumerate([(1, 1.0), ("1", 2), (" 5 ", 1)]):
        data = {
            "PlanId": "p",
            "PlanName": "n",
            "Waves": [wave(a, A, Dependencies=[2]), wave(b, B, Dependencies=[1])],
        }
        paths.append(write(tmp_path, f"p{k}.yaml", yaml.safe_dump(data)))
    result = CliRunner().invoke(main, ["validate", *map(str, paths)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "valid" not in result.stdout
    assert "Traceback" not in result.output
