"""``drsorch deploy package`` with pip replaced by a fake (issue 10, item 4): the pip calls
it makes (Lambda's platform, never this machine's), what it drops, the zip it writes
(deterministic), Lambda's size limits and pip's failures (one line, exit 2). The real build:
tests/integration/test_deploy_package_real.py."""

from __future__ import annotations

import io
import subprocess
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from drsorch.cli import main
from drsorch.stepfunctions import packaging
from drsorch.stepfunctions.packaging import (
    PackageError,
    find_source,
    runtime_requirements,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

REQUIRES = [
    "boto3>=1.35",
    "pydantic<3,>=2.7",
    "PyYAML>=6.0",
    "matplotlib>=3.7",
    'pytest>=8; extra == "dev"',
]
PROGRESS = ("building the wheel of ", "installing ")
ABI = {"manylinux2014_aarch64": "aarch64", "manylinux2014_x86_64": "x86_64"}


def wheel_bytes(requires: Sequence[str] = REQUIRES) -> bytes:
    metadata = "Metadata-Version: 2.4\nName: drsorch\nVersion: 0.1.0\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("drsorch/__init__.py", '__version__ = "0.1.0"\n')
        archive.writestr("drsorch/stepfunctions/handler.py", "def handler(e, c): ...\n")
        archive.writestr("drsorch-0.1.0.dist-info/METADATA", metadata)
    return buffer.getvalue()


class FakePip:
    """What pip would leave behind, in a few files; every call kept."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def __call__(self, args: Sequence[str]) -> None:
        args = list(args)
        self.calls.append(args)
        if self.fail and args[0] == self.fail:
            raise PackageError(f"pip {args[0]} failed: No matching distribution found")
        if args[0] == "wheel":
            out = Path(args[args.index("--wheel-dir") + 1])
            out.mkdir(parents=True)
            (out / "drsorch-0.1.0-py3-none-any.whl").write_bytes(wheel_bytes())
            return
        target = Path(args[args.index("--target") + 1])
        if "--no-deps" in args:  # the drsorch wheel itself
            with zipfile.ZipFile(args[-1]) as archive:
                archive.extractall(target)
            return
        platform = args[args.index("--platform") + 1]
        version = args[args.index("--python-version") + 1].replace(".", "")
        core = target / "pydantic_core"
        core.mkdir(parents=True)
        so = core / f"_pydantic_core.cpython-{version}-{ABI[platform]}-linux-gnu.so"
        so.write_bytes(b"\x7fELF" + bytes(2000))
        so.chmod(0o755)
        (core / "__init__.py").write_text("")
        (core / "__pycache__").mkdir()
        (core / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"pyc")
        info = target / "pydantic_core-2.0.dist-info"
        info.mkdir()
        for name in ("METADATA", "RECORD", "INSTALLER", "REQUESTED", "direct_url.json"):
            (info / name).write_text(name)
        (info / "licenses").mkdir()
        (info / "licenses" / "LICENSE").write_text("MIT")
        (target / "bin").mkdir()
        (target / "bin" / "pygmentize").write_text("#!/this/machine/python\n")


def source_tree(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "src" / "drsorch").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "drsorch"\n')
    (root / "src" / "drsorch" / "__init__.py").write_text("")
    return root


def package(tmp_path: Path, fake: FakePip, *args: str, monkeypatch: pytest.MonkeyPatch) -> Result:
    monkeypatch.setattr(packaging, "run_pip", fake)
    return CliRunner().invoke(
        main,
        ["deploy", "package", "--source", str(source_tree(tmp_path)), *args],
        env={"DRSORCH_DEBUG": ""},
    )


@pytest.mark.parametrize(
    ("python", "arch", "platform"),
    [("3.12", "arm64", "manylinux2014_aarch64"), ("3.13", "x86_64", "manylinux2014_x86_64")],
)
def test_pip_installs_lambdas_wheels_not_this_machines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python: str, arch: str, platform: str
) -> None:
    fake = FakePip()
    out = tmp_path / "fn.zip"
    result = package(
        tmp_path, fake, "--python", python, "--arch", arch, "-o", str(out), monkeypatch=monkeypatch
    )
    assert result.exit_code == 0, result.output
    wheel, dependencies, itself = fake.calls
    assert wheel[:2] == ["wheel", "--no-deps"]
    for call in (dependencies, itself):
        flags = ["--platform", platform, "--implementation", "cp", "--python-version", python]
        assert call[call.index("--platform") : call.index("--platform") + 6] == flags
        assert "--only-binary=:all:" in call
    # pyproject's runtime dependencies, but matplotlib (report --html only) and extras
    assert dependencies[-3:] == ["boto3>=1.35", "pydantic<3,>=2.7", "PyYAML>=6.0"]
    assert "--no-deps" in itself and itself[-1].endswith("drsorch-0.1.0-py3-none-any.whl")
    names = zipfile.ZipFile(out).namelist()
    version = python.replace(".", "")
    so = f"pydantic_core/_pydantic_core.cpython-{version}-{ABI[platform]}-linux-gnu.so"
    assert "drsorch/stepfunctions/handler.py" in names and so in names
    assert f"wrote {out} (" in result.stdout
    assert "zipped" in result.stdout and "unzipped" in result.stdout


def test_what_lambda_never_reads_is_dropped_and_the_rest_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "fn.zip"
    result = package(tmp_path, FakePip(), "-o", str(out), monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    names = set(zipfile.ZipFile(out).namelist())
    assert not any(n.startswith("bin/") or "__pycache__" in n or n.endswith(".pyc") for n in names)
    info = "pydantic_core-2.0.dist-info/"
    assert {n for n in names if n.startswith(info)} == {
        info + "METADATA",
        info + "licenses/LICENSE",
    }
    assert "drsorch-0.1.0.dist-info/METADATA" in names


def test_the_zip_is_deterministic_with_fixed_times_and_modes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    for where, out in ((tmp_path / "1", first), (tmp_path / "2", second)):
        assert package(where, FakePip(), "-o", str(out), monkeypatch=monkeypatch).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    infos = zipfile.ZipFile(first).infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert modes["pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so"] == 0o755
    assert modes["drsorch/stepfunctions/handler.py"] == 0o644


@pytest.mark.parametrize("limit", ["MAX_ZIPPED", "MAX_UNZIPPED"])
def test_over_lambdas_limits_is_refused_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    monkeypatch.setattr(packaging, limit, 1000)
    out = tmp_path / "fn.zip"
    result = package(tmp_path, FakePip(), "-o", str(out), monkeypatch=monkeypatch)
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if not line.startswith(PROGRESS)]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert errors[0].startswith("error: the zip would be ")
    assert errors[0].endswith("over Lambda's limit of 0.0 MB; nothing was written")
    assert not out.exists()


@pytest.mark.parametrize("step", ["wheel", "install"])
def test_pip_failing_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    out = tmp_path / "fn.zip"
    result = package(tmp_path, FakePip(fail=step), "-o", str(out), monkeypatch=monkeypatch)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[-1] == f"error: pip {step} failed: No matching distribution found"
    assert "Traceback" not in result.output and not out.exists()


def test_run_pip_says_pips_first_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: pip's output, as pip 24+ prints it, read back to its first ERROR."""
    stderr = (
        "WARNING: Retrying (Retry(total=0...)) after connection broken by 'NewConnectionError'\n"
        "ERROR: Could not find a version that satisfies the requirement setuptools>=68 "
        "(from versions: none)\n"
        "ERROR: No matching distribution found for setuptools>=68\n"
    )

    def run(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        assert command[1:3] == ["-m", "pip"]
        return subprocess.CompletedProcess(command, 1, "", stderr)

    monkeypatch.setattr(packaging.subprocess, "run", run)
    with pytest.raises(PackageError) as caught:
        packaging.run_pip(["wheel", "--no-deps", "."])
    assert str(caught.value) == (
        "pip wheel failed: Could not find a version that satisfies the requirement "
        "setuptools>=68 (from versions: none) (is the package index reachable? does it "
        "have a wheel for this platform?)"
    )


def test_a_drsorch_without_its_source_tree_is_told_so(tmp_path: Path) -> None:
    installed = tmp_path / "site-packages" / "drsorch" / "__init__.py"
    installed.parent.mkdir(parents=True)
    installed.write_text("")
    with pytest.raises(PackageError, match=r"no drsorch source tree .* pass --source DIR"):
        find_source(installed)
    assert find_source() == Path(__file__).resolve().parents[2]


def test_runtime_requirements_leave_out_extras_and_matplotlib(tmp_path: Path) -> None:
    wheel = tmp_path / "drsorch-0.1.0-py3-none-any.whl"
    wheel.write_bytes(wheel_bytes([*REQUIRES, "Matplotlib [svg] >= 3.7", "rich>=13"]))
    assert runtime_requirements(wheel) == (
        "boto3>=1.35",
        "pydantic<3,>=2.7",
        "PyYAML>=6.0",
        "rich>=13",
    )


def test_a_source_that_is_no_drsorch_tree_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packaging, "run_pip", FakePip())
    result = CliRunner().invoke(
        main, ["deploy", "package", "--source", str(tmp_path), "-o", str(tmp_path / "f.zip")]
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: {tmp_path} is no drsorch source tree (pyproject.toml, src/drsorch)"
    )
