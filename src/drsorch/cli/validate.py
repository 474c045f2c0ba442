"""``drsorch validate`` and ``drsorch schema``: check plan files, print the plan JSON Schema."""

from __future__ import annotations

import json
import sys

import click

from drsorch.cli import main
from drsorch.errors import PlanError
from drsorch.outcomes import EXIT_BAD_INPUT, EXIT_OK
from drsorch.plan import DRS_MAX_SERVERS_PER_JOB, Plan, load_plan, plan_json_schema
from drsorch.plan.loader import PlanProblems, display_path
from drsorch.plan.model import show
from drsorch.text import printable

# Past this many steps (or waves in one step) a summary line shows the ends and elides the
# middle: a 10 000-wave plan must still get a *short* summary.
_MAX_SHOWN = 12


def _elide(items: list[str], sep: str) -> str:
    if len(items) <= _MAX_SHOWN:
        return sep.join(items)
    head, tail = items[: _MAX_SHOWN - 3], items[-2:]
    return sep.join([*head, f"... {len(items) - len(head) - len(tail)} more ...", *tail])


def summarize(plan: Plan) -> list[str]:
    """A few lines a DR engineer reads to confirm the plan is what they meant."""
    servers = plan.all_server_ids()
    order = _elide(
        [
            "{" + _elide([str(n) for n in layer], ", ") + "}" if len(layer) > 1 else str(layer[0])
            for layer in plan.levels()
        ],
        " -> ",
    )
    chain = plan.longest_chain()
    lines = [
        f"plan {plan.plan_id} ({printable(plan.plan_name)}): {plan.execution_type}, "
        f"{len(plan.waves)} wave{'s' * (len(plan.waves) != 1)}, "
        f"{len(servers)} server{'s' * (len(servers) != 1)}",
        f"run order: {order}",
        f"longest chain: {_elide([str(n) for n in chain], ' -> ')} "
        f"({len(chain)} wave{'s' * (len(chain) != 1)})",
    ]
    for wave in plan.waves:
        if wave.server_tags:
            lines.append(
                f"wave {wave.wave_number} selects servers by ServerTags "
                f"{show(wave.server_tags)}: resolved at preflight (DescribeSourceServers)"
            )
        n = len(wave.listed_ids)
        if wave.execution_type == "PARALLEL" and n > DRS_MAX_SERVERS_PER_JOB:
            lines.append(
                f"wave {wave.wave_number} has {n} servers: it runs as {plan.job_count(wave)} "
                f"DRS jobs of at most {DRS_MAX_SERVERS_PER_JOB}"
            )
    return lines


@main.command("validate")
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--quiet", "-q", is_flag=True, help="Print only problems.")
def validate_cmd(plans: tuple[str, ...], quiet: bool) -> None:
    """Check recovery plan files; exit 0 if all are valid, 2 with every problem otherwise.

    An invalid plan gets a line ``FILE: N problems``, then one line per problem in file
    order, ``FILE:LINE:COL: PATH (wave N): message`` (see docs/plan-format.md). Every line
    printed passes :func:`drsorch.text.printable` (the loader already escapes what
    it quotes from a file; this is the last line of defence for the operator's terminal).
    """
    bad = 0
    for path in plans:
        try:
            plan = load_plan(path)
        except PlanProblems as exc:
            # `FILE:LINE:COL: PATH (wave N): message`, in file order: the form compilers
            # use, so editors and `grep` find the place.
            bad += 1
            click.echo(printable(exc), err=True)
            for problem in exc.located:
                click.echo(printable(problem.located(exc.name)), err=True)
            continue
        except PlanError as exc:
            bad += 1
            click.echo(printable(exc), err=True)
            continue
        if not quiet:
            click.echo(f"{display_path(path)}: valid")
            for line in summarize(plan):
                click.echo(f"  {printable(line)}")
    sys.exit(EXIT_BAD_INPUT if bad else EXIT_OK)


@main.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of a recovery plan (for editor autocompletion)."""
    click.echo(json.dumps(plan_json_schema(), indent=2))
