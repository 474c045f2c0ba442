"""The Lambda function's zip: drsorch and what it needs, built for Lambda's platform.

``drsorch deploy package --python 3.12 --arch arm64`` (issue 10, item 4):

1. ``pip wheel --no-deps`` of drsorch's source tree (the checkout this drsorch runs from);
2. ``pip install --target`` of its runtime dependencies (pyproject's, but for
   :data:`NOT_ON_LAMBDA`), then of the wheel, with ``--platform manylinux2014_<arch>
   --implementation cp --python-version X.Y --only-binary=:all:``: the wheels Lambda runs
   (pydantic's compiled core, PyYAML's), never this machine's;
3. what Lambda never reads is dropped (:func:`prune`): console scripts made for this
   machine, ``__pycache__``, and the install's bookkeeping in ``*.dist-info`` (``RECORD``,
   ``INSTALLER``, ``REQUESTED``, ``direct_url.json``); ``METADATA`` and licences stay;
4. the files are zipped deterministically (sorted, one timestamp, fixed modes): the same
   wheels give the same bytes, so a CloudFormation update sees no change when there is none;
5. Lambda's limits are checked (:data:`MAX_ZIPPED` for a direct upload,
   :data:`MAX_UNZIPPED` unzipped): over either, nothing is written and the request is
   refused.

pip runs as ``python -m pip`` of this interpreter and needs the package index (or its
cache); when it fails, :class:`PackageError` carries its last error line.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

import drsorch
from drsorch.errors import RefusedError

__all__ = [
    "ARCH_PLATFORMS",
    "MAX_UNZIPPED",
    "MAX_ZIPPED",
    "NOT_ON_LAMBDA",
    "PYTHON_VERSIONS",
    "Package",
    "PackageError",
    "build_package",
    "default_output",
    "describe",
    "find_source",
    "prune",
    "run_pip",
    "runtime_requirements",
    "write_zip",
]

ARCH_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
MB = 1024 * 1024
#: Lambda's quota for a zip uploaded directly.
MAX_ZIPPED = 50 * MB
#: Lambda's quota for a function's code, unzipped (layers included).
MAX_UNZIPPED = 250 * MB
#: Runtime dependencies the function never imports: matplotlib draws ``report --html``
#: only (with numpy, pillow and fonttools it would be most of the zip).
NOT_ON_LAMBDA = frozenset({"matplotlib"})
#: Bookkeeping of pip's install, never read at run time (``direct_url.json`` names the
#: temporary directory the wheel was built in).
_DIST_INFO_CRUFT = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
#: Every entry's time in the zip (the earliest a zip can hold).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

#: Runs ``pip`` with these arguments; raises :class:`PackageError` when it fails.
Pip = Callable[[Sequence[str]], None]


class PackageError(RefusedError):
    """The zip cannot be built as asked: no source tree, pip could not get a wheel for
    that platform (no network, no such wheel), or the zip is over Lambda's limits."""


@dataclass(frozen=True)
class Package:
    path: Path
    zipped: int  # bytes
    unzipped: int  # bytes
    files: int
    requirements: tuple[str, ...]


def run_pip(args: Sequence[str]) -> None:
    """``python -m pip ARGS`` of this interpreter, its output captured."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise PackageError(f"could not run pip: {exc}") from None
    if done.returncode != 0:
        reason = _last_error(done.stderr or done.stdout)
        if "Could not find a version" in reason or "No matching distribution" in reason:
            reason += " (is the package index reachable? does it have a wheel for this platform?)"
        raise PackageError(f"pip {args[0]} failed: {reason}")


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    if errors:  # pip's first ERROR line says what; the next ones, how to look further
        return errors[0].removeprefix("ERROR:").strip()
    return lines[-1] if lines else "no output"


def find_source(start: Path | None = None) -> Path:
    """The source tree this drsorch runs from: the directory above it whose
    ``pyproject.toml`` names the project drsorch."""
    here = (start or Path(drsorch.__file__)).resolve()
    for directory in here.parents:
        project = directory / "pyproject.toml"
        try:
            name = tomllib.loads(project.read_text(encoding="utf-8"))["project"]["name"]
        except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
            continue
        if name == "drsorch":
            return directory
    raise PackageError(
        f"no drsorch source tree (pyproject.toml) above {here.parent}: the zip is built "
        "from one; run from a checkout (pip install -e .) or pass --source DIR"
    )


def _copy_source(source: Path, into: Path) -> Path:
    """What a wheel is built from, copied: setuptools writes ``build/`` and ``*.egg-info``
    beside the sources, which must not happen in a checkout others work in."""
    if not (source / "pyproject.toml").is_file() or not (source / "src" / "drsorch").is_dir():
        raise PackageError(f"{source} is no drsorch source tree (pyproject.toml, src/drsorch)")
    into.mkdir()
    for path in source.iterdir():
        if path.is_file() and (
            path.name in ("pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in")
            or path.name.startswith(("README", "LICENSE", "LICENCE", "NOTICE"))
        ):
            shutil.copy2(path, into / path.name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(source / "src", into / "src", ignore=ignore)
    return into


def default_output(python: str, arch: str) -> Path:
    return Path(f"drsorch-lambda-{drsorch.__version__}-py{python}-{arch}.zip")


def runtime_requirements(wheel: Path) -> tuple[str, ...]:
    """The wheel's ``Requires-Dist`` that are not extras, but for :data:`NOT_ON_LAMBDA`."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
    wanted = []
    for requirement in metadata.get_all("Requires-Dist") or []:
        if "extra ==" in requirement.partition(";")[2]:
            continue
        project = requirement.split(";")[0].strip()
        for stop in "<>=!~[ (":
            project = project.split(stop)[0]
        if project.lower() not in NOT_ON_LAMBDA:
            wanted.append(requirement)
    return tuple(wanted)


def prune(root: Path) -> None:
    """Drop from an install in ``root`` what Lambda never reads (module docstring)."""
    shutil.rmtree(root / "bin", ignore_errors=True)
    for path in sorted(root.rglob("*"), reverse=True):  # children before their parents
        if path.is_dir() and path.name == "__pycache__":
            shutil.rmtree(path)
        elif path.is_file() and (
            path.suffix == ".pyc"
            or (path.parent.name.endswith(".dist-info") and path.name in _DIST_INFO_CRUFT)
        ):
            path.unlink()


def _files(root: Path) -> list[Path]:
    """The files under ``root``, in the order of their names in the zip."""
    files = (p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def write_zip(root: Path, target: Path) -> None:
    """Every file under ``root`` into the zip ``target``: sorted, one timestamp, mode 755
    for what was executable and 644 for the rest, so the same files give the same bytes."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in _files(root):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_ZIP_TIME)
            executable = path.stat().st_mode & 0o111
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.create_system = 3  # unix, so Lambda reads the modes
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB"


def _check(limit: int, size: int, what: str) -> None:
    if size > limit:
        raise PackageError(
            f"the zip would be {_megabytes(size)} {what}, over Lambda's limit of "
            f"{_megabytes(limit)}; nothing was written"
        )


def build_package(
    output: Path,
    *,
    python: str,
    arch: str,
    source: Path | None = None,
    pip: Pip | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Package:
    """Build the function's zip at ``output`` (module docstring) with ``pip`` (default
    :func:`run_pip`); ``say`` hears each step."""
    pip = pip or run_pip
    if python not in PYTHON_VERSIONS or arch not in ARCH_PLATFORMS:
        raise PackageError(f"no Lambda runtime for Python {python} on {arch}")
    source = find_source() if source is None else source
    platform = [
        *("--platform", ARCH_PLATFORMS[arch], "--implementation", "cp"),
        *("--python-version", python, "--only-binary=:all:", "--no-compile"),
    ]
    with tempfile.TemporaryDirectory(prefix="drsorch-package-") as tmp:
        wheels, target = Path(tmp, "wheel"), Path(tmp, "package")
        say(f"building the wheel of {source}")
        tree = _copy_source(source, Path(tmp, "source"))
        pip(["wheel", "--no-deps", "--wheel-dir", str(wheels), str(tree)])
        built = sorted(wheels.glob("drsorch-*.whl"))
        if len(built) != 1:
            raise PackageError(f"pip wheel made {len(built)} drsorch wheels, not one")
        requirements = runtime_requirements(built[0])
        say(f"installing {len(requirements)} requirements for {ARCH_PLATFORMS[arch]}, cp{python}")
        pip(["install", "--target", str(target), *platform, *requirements])
        pip(["install", "--target", str(target), "--no-deps", *platform, str(built[0])])
        prune(target)
        files = _files(target)
        unzipped = sum(path.stat().st_size for path in files)
        _check(MAX_UNZIPPED, unzipped, "unzipped")
        staged = Path(tmp, "function.zip")
        write_zip(target, staged)
        zipped = staged.stat().st_size
        _check(MAX_ZIPPED, zipped, "zipped")
        try:
            shutil.copyfile(staged, output)
        except OSError as exc:
            raise PackageError(f"{output}: could not be written: {exc.strerror or exc}") from None
    return Package(output, zipped, unzipped, len(files), requirements)


def describe(package: Package) -> Iterable[str]:
    """What ``drsorch deploy package`` prints when the zip is made."""
    yield f"wrote {package.path} ({package.files} files)"
    yield (
        f"  zipped   {_megabytes(package.zipped):>9}  (Lambda: {_megabytes(MAX_ZIPPED)} "
        "uploaded directly)"
    )
    yield f"  unzipped {_megabytes(package.unzipped):>9}  (Lambda: {_megabytes(MAX_UNZIPPED)})"
