"""``drsorch deploy template`` and ``drsorch deploy package``: the CloudFormation stack that
runs drsorch on AWS Step Functions + Lambda, and the zip its function runs (issue 10, item 4).

Nothing here talks to AWS: the template is printed or written, the zip is built with pip
(which needs the package index) and checked against Lambda's size limits. The README's
"Running on AWS Step Functions" shows the ``aws cloudformation deploy`` that follows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from drsorch.cli import main
from drsorch.cli.outputs import check_output_file, write_output_file
from drsorch.cli.render import exits_on_errors
from drsorch.stepfunctions.packaging import (
    ARCH_PLATFORMS,
    PYTHON_VERSIONS,
    build_package,
    default_output,
    describe,
)
from drsorch.stepfunctions.template import template_text
from drsorch.text import printable

__all__ = ["deploy_group", "package_cmd", "template_cmd"]


@main.group("deploy")
def deploy_group() -> None:
    """Deploy drsorch on AWS Step Functions + Lambda (one CloudFormation stack)."""


@deploy_group.command("template")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml"]),
    default="json",
    show_default=True,
    help="The template's format.",
)
@click.option("--output", "-o", metavar="FILE", help="Write it to FILE, not stdout.")
@exits_on_errors
def template_cmd(fmt: Literal["json", "yaml"], output: str | None) -> None:
    """Print the CloudFormation template: the history table, the Lambda function, the
    state machine, its EventBridge rule, log groups, an optional SNS topic and IAM roles
    with least privilege. Deploy it with `aws cloudformation deploy` (README)."""
    target = check_output_file(output, "--output") if output is not None else None
    text = template_text(fmt)
    if target is None:
        click.echo(text, nl=False)
        return
    write_output_file(target, text.encode("utf-8"), "--output")
    click.echo(printable(f"wrote the CloudFormation template ({fmt}) to {target}"), err=True)


@deploy_group.command("package")
@click.option(
    "--python",
    type=click.Choice(PYTHON_VERSIONS),
    default="3.12",
    show_default=True,
    help="The Lambda runtime's Python (the template's PythonRuntime: python3.X).",
)
@click.option(
    "--arch",
    type=click.Choice(sorted(ARCH_PLATFORMS)),
    default="arm64",
    show_default=True,
    help="The Lambda function's architecture (the template's Architecture).",
)
@click.option(
    "--output",
    "-o",
    metavar="FILE",
    help="Where to write the zip [default: drsorch-lambda-VERSION-pyX.Y-ARCH.zip].",
)
@click.option(
    "--source",
    metavar="DIR",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="drsorch's source tree [default: the one this drsorch runs from].",
)
@exits_on_errors
def package_cmd(python: str, arch: str, output: str | None, source: Path | None) -> None:
    """Build the Lambda function's zip: drsorch and its runtime dependencies, with the
    wheels of Lambda's platform (pip --platform manylinux2014_ARCH --only-binary=:all:),
    checked against Lambda's size limits (50 MB zipped, 250 MB unzipped). Needs pip and
    the package index (or pip's cache)."""
    where = output if output is not None else str(default_output(python, arch))
    target = check_output_file(where, "--output")
    package = build_package(
        target,
        python=python,
        arch=arch,
        source=source,
        say=lambda line: click.echo(printable(line), err=True),
    )
    for line in describe(package):
        click.echo(printable(line))
