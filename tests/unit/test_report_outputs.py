"""Files written beside a command's output (``--html``, ``--junit``; drsorch.cli.outputs):
refused in one line before any work when they cannot be written, and a write that fails
after a run says so without changing the run's outcome."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tests.utils.reports import diamond

from drsorch.cli.outputs import check_output_file, with_junit, write_output_file
from drsorch.errors import RefusedError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("  ", "--junit: give a file name"),
        ("bad\x00name.xml", "--junit: a file name cannot hold a NUL character"),
        ("x" * 5000 + ".xml", "cannot be written: File name too long"),
    ],
)
def test_a_path_that_cannot_be_a_file_is_refused(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(RefusedError, match=message):
        check_output_file(str(tmp_path / name) if name.strip() else name, "--junit")


def test_a_writable_path_is_accepted_and_written(tmp_path: Path) -> None:
    target = check_output_file(str(tmp_path / "out.xml"), "--junit")
    assert not target.exists()  # checking writes nothing
    write_output_file(target, b"<a/>", "--junit")
    assert target.read_bytes() == b"<a/>"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc here")
def test_a_file_system_that_takes_no_files_is_refused_before_the_work() -> None:
    """``/proc`` looks writable to ``os.access`` as root: only trying tells."""
    with pytest.raises(RefusedError, match=r"^--junit /proc/x\.xml: cannot be written: "):
        check_output_file("/proc/x.xml", "--junit")


@pytest.mark.timeout(20)
def test_a_fifo_nobody_reads_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "junit.xml"
    os.mkfifo(fifo)
    with pytest.raises(RefusedError, match="cannot be written: No such device or address"):
        check_output_file(str(fifo), "--junit")


def test_an_existing_file_is_checked_and_left_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "old.xml"
    target.write_bytes(b"<kept/>")
    assert check_output_file(str(target), "--junit") == target
    assert target.read_bytes() == b"<kept/>"


def test_a_write_that_fails_is_one_line_naming_the_option(tmp_path: Path) -> None:
    with pytest.raises(RefusedError, match=r"^--html .*: could not be written: Is a directory$"):
        write_output_file(tmp_path, b"x", "--html")


def test_run_junit_writes_after_the_run_and_a_failed_write_leaves_the_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = diamond()
    target = tmp_path / "run.xml"
    assert with_junit(lambda runner: record, target)(object()) is record
    assert ET.parse(target).getroot().get("tests") == "5"
    gone = tmp_path / "gone" / "run.xml"  # its directory vanished during the run
    assert with_junit(lambda runner: record, gone)(object()) is record
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --junit ") and "could not be written" in line
    assert f"drsorch report {record.ExecutionId} --junit FILE" in line
