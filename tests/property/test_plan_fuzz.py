"""Fuzzing ``drsorch validate`` in-process (issue 7): hostile plan files, built from valid
plans with perturbations of their structure and of their text, and raw bytes.

For every file the real command (click's CliRunner on ``drsorch.cli.main``) must exit 0 or
2, never with a traceback; every problem is located (the file, and a field path or a line;
a plan's problems as ``FILE:LINE:COL: PATH: message``, in file order); nothing it prints
holds a raw control character; and a file it calls valid is a plan the engine runs to its
end on the simulator. Bounded: the whole module takes a few seconds.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.plan_agreement import assert_located, assert_our_words, assert_runs_to_its_end
from tests.utils.plans import FILE_PERTURBATION_KINDS, TERMINAL_ESCAPES, hostile_plans, plans

from drsorch.cli import main
from drsorch.plan import load_plan

pytestmark = [pytest.mark.property, pytest.mark.timeout(60)]  # a hang fails, not blocks

SMALL = {"max_waves": 3, "max_servers_per_wave": 3}
FUZZ = settings(
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# One-line file problems that name no line because they are about the whole file.
WHOLE_FILE = (
    "binary data, not a YAML or JSON plan",
    "not UTF-8 text (byte ",
    "the plan must be a mapping of fields",
    "refusing a possible alias bomb",
    "nested more than",
    "nested too deeply",
)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="drsorch-fuzz-") as tmp:
        yield Path(tmp)


def validate_file(path: Path) -> None:
    """Run ``drsorch validate PATH`` in-process and check everything it printed."""
    result = CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=True)
    out, err = result.stdout, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exception,
        out + err,
    )
    assert result.exit_code in (0, 2), (result.exit_code, out + err)
    assert_our_words(out)
    assert_our_words(err)
    name = str(path)
    if result.exit_code == 0:
        assert err == ""
        assert out.startswith(f"{name}: valid\n"), out
        # validate and run agree: the engine runs what validate accepted
        assert_runs_to_its_end(load_plan(path))
        return
    assert out == "", out
    lines = err.splitlines()
    assert lines and lines[0].startswith(f"{name}: "), err
    header = re.fullmatch(rf"{re.escape(name)}: (\d+) problems?", lines[0])
    if header:
        assert len(lines) == 1 + int(header.group(1)), err
        # FILE:LINE:COL: PATH: message (FILE: PATH: message when it has no place), file order
        found = [re.fullmatch(rf"{re.escape(name)}(?::(\d+):(\d+))?: (.*)", ln) for ln in lines[1:]]
        assert all(found), err
        assert_located([m.group(3) for m in found if m])
        places = [
            (m.group(1) is None, int(m.group(1) or 0), int(m.group(2) or 0)) for m in found if m
        ]
        assert places == sorted(places), err
    else:
        assert len(lines) == 1, err
        assert "line " in lines[0] or any(w in lines[0] for w in WHOLE_FILE), lines[0]


def write(workdir: Path, suffix: str, content: bytes) -> Path:
    path = workdir / f"plan{suffix}"
    path.write_bytes(content)
    return path


# -- text-level perturbations ---------------------------------------------------------------

TextEdit = Callable[[str, random.Random], str]


def _insert(text: str, rng: random.Random, piece: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + piece + text[at:]


def _drop_line(text: str, n: int) -> str:
    return "\n".join(line for i, line in enumerate(text.splitlines()) if i != n)


def _append_line(text: str, line: str) -> str:
    return text.rstrip("\n") + "\n" + line + "\n"


YAML_EDITS: dict[str, TextEdit] = {
    "raw control char": lambda t, r: _insert(
        t, r, r.choice(["\x1b", "\x07", "\x00", "\x7f", "\x85", "\x9b"])
    ),
    "terminal escape": lambda t, r: _insert(t, r, r.choice(TERMINAL_ESCAPES)),
    "duplicate key": lambda t, r: _append_line(t, "PlanId: again"),
    "complex key": lambda t, r: _append_line(
        t, r.choice(["? [a, b]\n: 1", "? {a: 1}\n: 2", "[x]: 1"])
    ),
    "non-text key": lambda t, r: _append_line(
        t, r.choice(["5: x", "null: x", "true: x", "1.5: x", "2024-01-01: x"])
    ),
    "huge int": lambda t, r: _append_line(t, "Extra: " + "9" * r.choice([20, 4301, 6000])),
    "huge hex": lambda t, r: _append_line(t, "Extra: 0x" + "f" * 80),
    "sexagesimal": lambda t, r: _append_line(t, "TimeoutSeconds: " + ":".join(["59"] * 20)),
    "deep nesting": lambda t, r: _append_line(t, "Deep: " + "[" * r.randint(30, 3000) + "]" * 3000),
    "deep mapping": lambda t, r: _append_line(
        t, "Deep: " + "{a: " * r.randint(30, 800) + "1" + "}" * 800
    ),
    "python tag": lambda t, r: _append_line(t, "Extra: !!python/object/apply:os.system ['true']"),
    "unknown tag": lambda t, r: _append_line(t, "Extra: !%1B[31mtag x"),
    "bad date": lambda t, r: _append_line(t, "Description: 2024-13-45"),
    "date": lambda t, r: _append_line(t, "Description: 2024-01-01"),
    "binary tag": lambda t, r: _append_line(
        t, r.choice(["Description: !!binary aGVsbG8=", "Description: !!binary ***"])
    ),
    "recursive alias": lambda t, r: _append_line(t, "Extra: &a [*a]"),
    "merge key": lambda t, r: _append_line(
        t, r.choice(["<<: {Description: merged}", "<<: [1, 2]", "<<: *nope"])
    ),
    "alias bomb": lambda t, r: (
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{c}: &{c} [{', '.join(['*' + chr(ord(c) - 1)] * 9)}]\n" for c in "bcdefghij")
        + t
    ),
    "crlf": lambda t, r: t.replace("\n", "\r\n"),
    "tab indent": lambda t, r: t.replace("  ", "\t", 1),
    "bom": lambda t, r: "\ufeff" + t,
    "truncate": lambda t, r: t[: r.randrange(len(t) + 1)],
    "drop a line": lambda t, r: _drop_line(t, r.randrange(max(1, t.count("\n")))),
    "stray char": lambda t, r: _insert(
        t, r, r.choice([":", "-", "[", "{", "'", '"', "&", "*", "!", "%", "@", "`", "|", ">", "#"])
    ),
    "unicode digit": lambda t, r: re.sub(r"\b1\b", "\u0661", t, count=1),
    "float number": lambda t, r: re.sub(r"(WaveNumber: )(\d+)", r"\g<1>\g<2>.0", t, count=1),
    "quoted number": lambda t, r: re.sub(r"(WaveNumber: )(\d+)", r"\1'\2'", t, count=1),
    "spaced number": lambda t, r: re.sub(r"(WaveNumber: )(\d+)", r"\1' \2 '", t, count=1),
}

JSON_EDITS: dict[str, TextEdit] = {
    "duplicate key": lambda t, r: t.replace("{", '{"PlanId": "dup", ', 1),
    "duplicate wave key": lambda t, r: t.replace(
        '"WaveNumber": ', '"WaveNumber": 7, "WaveNumber": ', 1
    ),
    "nan": lambda t, r: re.sub(
        r"(\"WaveNumber\": )(\d+)", r"\1" + r.choice(["NaN", "Infinity", "-Infinity"]), t, count=1
    ),
    "huge int": lambda t, r: t.replace(
        "{", '{"Extra": ' + "9" * r.choice([20, 4301, 6000]) + ", ", 1
    ),
    "huge float": lambda t, r: t.replace("{", '{"TimeoutSeconds": 1' + "0" * 400 + ".5, ", 1),
    "deep nesting": lambda t, r: t.replace(
        "{", '{"Deep": ' + "[" * r.randint(30, 5000) + "]" * 5000 + ", ", 1
    ),
    "raw control char": lambda t, r: t.replace('"PlanName": "', '"PlanName": "\x1b', 1),
    "escaped control char": lambda t, r: t.replace(
        '"PlanName": "', '"PlanName": "\\u001b]0;pwned\\u0007', 1
    ),
    "escaped key": lambda t, r: t.replace("{", '{"\\u001b[2J": 1, ', 1),
    "lone surrogate": lambda t, r: t.replace('"PlanName": "', '"PlanName": "\\ud800', 1),
    "surrogate key": lambda t, r: t.replace("{", '{"\\udfff": 1, ', 1),
    "float number": lambda t, r: re.sub(r"(\"WaveNumber\": )(\d+)", r"\g<1>\g<2>.0", t, count=1),
    "string number": lambda t, r: re.sub(r"(\"WaveNumber\": )(\d+)", r'\1" \2 "', t, count=1),
    "bom": lambda t, r: "\ufeff" + t,
    "truncate": lambda t, r: t[: r.randrange(len(t) + 1)],
    "stray char": lambda t, r: _insert(t, r, r.choice([",", ":", "[", "{", '"', "\\", "}"])),
    "top-level list": lambda t, r: "[" + t + "]",
}


def _dump(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=r"  " if len(data) % 2 else None)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@st.composite
def plan_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """A plan file: a valid or structurally perturbed plan, maybe edited as text."""
    fmt = draw(st.sampled_from(["yaml", "json"]))
    if draw(st.integers(0, 3)) == 0:
        data = draw(plans(**SMALL))  # valid: exercises the run side of the agreement
    else:
        data = draw(hostile_plans(kinds=FILE_PERTURBATION_KINDS, **SMALL)).data
    text = _dump(data, fmt)
    edits = YAML_EDITS if fmt == "yaml" else JSON_EDITS
    rng = random.Random(draw(st.integers(0, 2**32)))
    for name in draw(st.lists(st.sampled_from(sorted(edits)), max_size=2)):
        text = edits[name](text, rng)
    return f".{fmt}", text.encode("utf-8", "surrogatepass")


@FUZZ
@given(plan_files())
def test_perturbed_plan_files(workdir: Path, file: tuple[str, bytes]) -> None:
    suffix, content = file
    validate_file(write(workdir, suffix, content))


@settings(FUZZ, max_examples=40)
@given(st.sampled_from([".yaml", ".json", ".yml", ""]), st.binary(max_size=400))
def test_raw_bytes(workdir: Path, suffix: str, content: bytes) -> None:
    validate_file(write(workdir, suffix, content))


@settings(FUZZ, max_examples=30)
@given(
    st.sampled_from([".yaml", ".json"]),
    plans(**SMALL),
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete"]),
            st.integers(0, 10**6),
            st.binary(min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_byte_mutations_of_a_valid_file(
    workdir: Path, suffix: str, data: dict[str, Any], edits: list[tuple[str, int, bytes]]
) -> None:
    content = bytearray(_dump(data, suffix[1:]).encode())
    for op, at, piece in edits:
        at %= len(content) + 1
        if op == "flip" and at < len(content):
            content[at] ^= piece[0] or 0x80
        elif op == "insert":
            content[at:at] = piece
        elif op == "delete":
            del content[at : at + len(piece)]
    validate_file(write(workdir, suffix, bytes(content)))


@settings(FUZZ, max_examples=15)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_random_text_with_a_hostile_file_name(workdir: Path, text: str) -> None:
    """The file name is printed too: an escape sequence in it is shown escaped."""
    path = workdir / "plan\x1b]0;pwned\x07.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code in (0, 2)
    assert_our_words(result.stdout + result.stderr)
