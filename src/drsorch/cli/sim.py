"""``drsorch sim``: the simulated STS + DRS + EC2 region as a command (issue 3, point 5).

``drsorch sim serve`` runs an HTTP endpoint that the AWS CLI and any SDK can use through
``--endpoint-url``; source servers come from a scenario file, from recovery plans' server
ids, or are generated. The clock runs in real time, or ``--speed`` times faster.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

import click

from drsorch.cli import main
from drsorch.cli.params import MAX_SERVERS, PORT, SEED, SPEED, WholeRange
from drsorch.cli.render import exits_on_errors
from drsorch.errors import DrsorchError, PlanError
from drsorch.outcomes import EXIT_BAD_INPUT
from drsorch.text import printable


@main.group()
def sim() -> None:
    """A simulated Elastic Disaster Recovery + EC2 region, for rehearsals and tests."""


def _plan_server_ids(plans: tuple[Path, ...]) -> list[str]:
    if not plans:
        return []
    from drsorch.plan import load_plan  # written alongside; imported only when needed

    ids: list[str] = []
    for path in plans:
        ids.extend(load_plan(path).all_server_ids())
    return list(dict.fromkeys(ids))


def _bad_input(message: str) -> NoReturn:
    """One line on stderr (control characters escaped) and exit 2."""
    click.echo(f"drsorch sim serve: {printable(message)}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _check_host(value: str) -> str:
    if printable(value) != value or len(value) > 255:
        raise click.BadParameter(f"{printable(value)[:80]!r} is not a host name or address")
    return value


@sim.command()
@click.option("--port", type=PORT, default=4610, show_default=True, help="0 picks a free port.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=lambda _ctx, _param, value: _check_host(value),
    help="Address to bind.",
)
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scenario YAML: servers, timings, quotas, faults.",
)
@click.option(
    "--plan",
    "plans",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Recovery plan whose servers should exist (repeatable).",
)
@click.option(
    "--servers",
    type=WholeRange(min=0, max=MAX_SERVERS),
    default=0,
    help=f"Generate N more servers (at most {MAX_SERVERS} servers in all).",
)
@click.option("--seed", type=SEED, default=None, help="Seed (default: the scenario's, else 0).")
@click.option("--speed", type=SPEED, default=1.0, show_default=True, help="Times real time.")
@click.option("--verbose", "-v", is_flag=True, help="Log every HTTP request.")
@exits_on_errors
def serve(
    port: int,
    host: str,
    scenario_path: Path | None,
    plans: tuple[Path, ...],
    servers: int,
    seed: int | None,
    speed: float,
    verbose: bool,
) -> None:
    """Serve a simulated STS + DRS + EC2 endpoint until Ctrl-C."""
    from drsorch.clock import ScaledClock
    from drsorch.sim import Scenario, SimRegion
    from drsorch.sim.server import SimServer

    try:
        scenario = Scenario.from_file(scenario_path) if scenario_path else Scenario()
        plan_ids = _plan_server_ids(plans)
    except DrsorchError as exc:  # scenario and plan errors: bad input, one line each
        click.echo(f"drsorch sim serve: {printable(exc)}", err=True)
        if isinstance(exc, PlanError) and exc.problems != [str(exc)]:
            for problem in exc.problems:
                click.echo(f"  - {printable(problem)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    listed = {spec.id for spec in scenario.source_servers}
    from_plans = [sid for sid in plan_ids if sid not in listed]
    total = len(listed) + scenario.generate_servers + len(from_plans) + servers
    if total > MAX_SERVERS:
        _bad_input(
            f"{total} source servers (scenario, plans and --servers together); "
            f"the simulator holds at most {MAX_SERVERS}"
        )
    region = SimRegion(clock=ScaledClock(speed, start=time.time()), scenario=scenario, seed=seed)
    region.add_source_servers([sid for sid in from_plans if sid not in region.model.servers])
    if servers:
        region.generate_source_servers(servers)
    try:
        server = SimServer(region, host=host, port=port, verbose=verbose)
    except (OSError, ValueError) as exc:  # no such address, in use, a label too long...
        _bad_input(f"cannot listen on {host}:{port}: {exc}")

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    count = len(region.model.servers)
    url = printable(server.url)
    click.echo(
        f"drsorch sim: STS + DRS + EC2 on {url} ({count} source servers, "
        f"seed {region.seed}, speed {speed:g}x)",
    )
    for account in scenario.accounts:
        where = " (the source servers)" if account.id == region.directory.servers_account else ""
        click.echo(f"  account {account.id}{where}")
    for role in scenario.roles:
        click.echo(f"  role {printable(role.arn)}")
    click.echo(f"  aws drs describe-source-servers --endpoint-url {url} --region us-east-1")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        click.echo(f"drsorch sim: stopped after {len(region.recorder.calls)} calls")
