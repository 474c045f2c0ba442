"""``drsorch deploy package`` for real: pip builds this checkout's wheel and installs the
wheels of Lambda's arm64 platform for Python 3.12 (not this machine's). Needs the package
index: about a minute here (58 s measured; pip's cache did not persist on this machine),
over the suite's budget, so it runs only when asked: ``DRSORCH_TEST_PACKAGE=1 pytest
tests/integration/test_deploy_package_real.py`` (and is ``slow``: ``-m "not slow"``
deselects it). The fast tests, with pip faked: tests/unit/test_deploy_package.py."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from drsorch.cli import main
from drsorch.stepfunctions.packaging import MAX_UNZIPPED, MAX_ZIPPED

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not os.environ.get("DRSORCH_TEST_PACKAGE"),
        reason="a real pip build (~1 min, needs the package index): DRSORCH_TEST_PACKAGE=1",
    ),
]


def test_a_real_package_holds_the_handler_and_lambdas_pydantic_core(tmp_path: Path) -> None:
    out = tmp_path / "drsorch-arm64.zip"
    result = CliRunner().invoke(
        main,
        ["deploy", "package", "--python", "3.12", "--arch", "arm64", "-o", str(out)],
        env={"DRSORCH_DEBUG": ""},
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        infos = archive.infolist()
    names = {i.filename for i in infos}
    assert "drsorch/stepfunctions/definition.py" in names
    assert "drsorch/stepfunctions/handler.py" in names
    cores = {n for n in names if n.startswith("pydantic_core/_pydantic_core.")}
    assert cores == {"pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so"}
    assert any(n.startswith("yaml/_yaml.cpython-312-aarch64-linux-gnu") for n in names)
    assert not any(n.startswith(("matplotlib/", "numpy/", "bin/")) for n in names)
    assert not any("__pycache__" in n for n in names)
    assert {"boto3/__init__.py", "botocore/__init__.py", "pydantic/__init__.py"} <= names
    unzipped = sum(i.file_size for i in infos)
    assert out.stat().st_size < MAX_ZIPPED and unzipped < MAX_UNZIPPED
    print(f"\n{result.stdout}")  # the sizes, with -s
