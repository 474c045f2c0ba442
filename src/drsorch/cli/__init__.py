"""The ``drsorch`` command (design §6).

One click group; each sub-module registers its commands on it, so the command line grows by
adding a module. Exit codes: 0 COMPLETED / valid, 1 FAILED or CANCELLED, 2 bad input or a
refused request, 3 the engine itself broke; :mod:`drsorch.outcomes` owns them and decides
which one an outcome gets (the ``EXIT_*`` names here are re-exports).
"""

from __future__ import annotations

import importlib

import click

from drsorch import __version__
from drsorch.outcomes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERNAL, EXIT_OK

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERNAL", "EXIT_OK", "main"]

_COMMAND_MODULES = (
    "validate",
    "run",
    "history",
    "sim",
    "cleanup",
    "report",
    "store",
    "control",
    "estimate",
    "deploy",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drsorch")
def main() -> None:
    """Run disaster-recovery plans on AWS Elastic Disaster Recovery (simulated by default)."""


for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"drsorch.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command module not written yet
        if exc.name != f"drsorch.cli.{_name}":
            raise
