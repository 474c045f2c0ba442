"""``drsorch estimate``: a plan's recovery time before it runs (issue 12, item 3).

Thin: it loads the plan and the scenario (and, with ``--from-history``, fits launch and
boot durations from the store: :func:`drsorch.report.estimate.fit_timing`), runs the plan
``--runs`` times on the simulator (:mod:`drsorch.estimating`), and prints the figures
(:func:`drsorch.report.estimate.summarize`): text of at most 80 columns, or ``--json``.
Exit 0 when the estimate was made, whatever the runs' outcomes (the figures say them); 2
for bad input (an invalid plan or scenario, ``--runs`` out of range, no AWS history).
"""

from __future__ import annotations

import time

import click

from drsorch.cli import main
from drsorch.cli.params import MAX_SEED, SEED, WholeRange
from drsorch.cli.render import echo_json, exits_on_errors
from drsorch.errors import RefusedError
from drsorch.estimating import MAX_RUNS, auto_jobs, run_many
from drsorch.plan import Plan, load_plan
from drsorch.report.estimate import Estimate, HistoryFit, Quantiles, fit_timing, summarize
from drsorch.sim import Scenario
from drsorch.store import ENV_VAR, open_store
from drsorch.text import format_duration, printable

#: Past executions of the plan that ``--from-history`` reads, newest first.
HISTORY_LIMIT = 1_000
#: Worker processes ``--jobs`` allows.
MAX_JOBS = 64

_STORE_HELP = (
    f"With --from-history: where the history is (default: ${ENV_VAR}, else a SQLite file "
    "in your data directory)."
)


@main.command("estimate")
@click.argument("plan_path", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option(
    "--runs",
    type=WholeRange(min=1, max=MAX_RUNS),
    default=100,
    show_default=True,
    help="Simulated executions to run.",
)
@click.option(
    "--scenario", "scenario_path", type=click.Path(dir_okay=False), help="Simulator scenario."
)
@click.option(
    "--seed", "base_seed", type=SEED, default=0, show_default=True, help="Seed of the first run."
)
@click.option(
    "--from-history",
    is_flag=True,
    help="Fit launch and boot durations from this plan's past executions against AWS.",
)
@click.option("--store", "store_url", metavar="URL", help=_STORE_HELP)
@click.option(
    "--jobs",
    type=WholeRange(min=0, max=MAX_JOBS),
    default=0,
    help="Worker processes (default 0: one per CPU, up to 8; none for under 16 runs).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON, nothing else.")
@exits_on_errors
def estimate_cmd(
    plan_path: str,
    runs: int,
    scenario_path: str | None,
    base_seed: int,
    from_history: bool,
    store_url: str | None,
    jobs: int,
    as_json: bool,
) -> None:
    """Estimate a plan's recovery time: run it RUNS times on the simulator (seeds SEED to
    SEED+RUNS-1; nothing is recorded) and report p50/p90/p99 per wave and in total, how
    many runs completed, and the chance of meeting the plan's RtoTargetSeconds."""
    if store_url is not None and not from_history:
        raise RefusedError("--store is read for --from-history only: add it, or leave --store out")
    if base_seed + runs - 1 > MAX_SEED:
        raise RefusedError(f"--seed {base_seed} with --runs {runs} passes the largest seed")
    plan = load_plan(plan_path)
    scenario = Scenario.from_file(scenario_path) if scenario_path else Scenario()
    fit = None
    if from_history:
        fit = _history_fit(plan, store_url)
        scenario = scenario.model_copy(update={"timing": fit.timing(scenario.timing)})
    seeds = range(base_seed, base_seed + runs)
    started = time.perf_counter()
    results = run_many(plan, scenario, seeds, jobs=jobs or auto_jobs(runs))
    elapsed = time.perf_counter() - started
    estimate = summarize(plan.plan_id, plan.rto_target_seconds, results)
    if as_json:
        data = estimate.to_dict()
        data["Scenario"] = scenario_path
        data["FromHistory"] = None if fit is None else fit.to_dict()
        echo_json(data)
        return
    for line in estimate_lines(estimate, plan, scenario_path, fit, elapsed):
        click.echo(printable(line))


def _history_fit(plan: Plan, store_url: str | None) -> HistoryFit:
    store = open_store(store_url, read_only=True)
    try:
        records = store.query(plan_id=plan.plan_id, limit=HISTORY_LIMIT)
    finally:
        store.close()
    fit = fit_timing(records)
    if not fit.usable:
        raise RefusedError(
            f"--from-history: no execution of plan {plan.plan_id} against AWS with a launched "
            f"server in the store (of its last {HISTORY_LIMIT}); run a drill with --aws first"
        )
    return fit


def _row(label: str, q: Quantiles | None, runs: str) -> str:
    if q is None:
        return f"{label:<34.34} {'-':>9} {'-':>9} {'-':>9} {runs:>8}"
    p50, p90, p99 = (format_duration(v) for v in (q.p50, q.p90, q.p99))
    return f"{label:<34.34} {p50:>9} {p90:>9} {p99:>9} {runs:>8}"


def estimate_lines(
    estimate: Estimate,
    plan: Plan,
    scenario_path: str | None,
    fit: HistoryFit | None,
    elapsed: float,
) -> list[str]:
    """The estimate as text lines of at most 80 columns."""
    e = estimate
    source = "the simulator's model" if scenario_path is None else f"scenario {scenario_path}"
    if fit is not None:
        source = (
            f"{len(fit.launching)} launches and {len(fit.booting)} boots of "
            f"{fit.executions} AWS execution(s)"
        )
    lines = [
        f"Estimate of plan {plan.plan_id}: {e.runs} simulated runs, seeds "
        f"{e.seeds[0]}..{e.seeds[1]}",
        f"Durations from {source}",
    ]
    if fit is not None:
        for name, values in (("launching", fit.launching), ("booting", fit.booting)):
            if values:
                low, high = format_duration(min(values)), format_duration(max(values))
                lines.append(f"  {name}: {low} to {high} (uniform)")
    others = ", ".join(f"{n} {s}" for s, n in sorted(e.statuses.items()) if s != "COMPLETED")
    lines.append(f"Completed: {e.completed} of {e.runs}" + (f" ({others})" if others else ""))
    if e.example_failure is not None:
        seed, error = e.example_failure
        lines += [f"  e.g. the run with seed {seed}:", *_wrapped(error, 76)]
    lines += ["", f"{'':<34} {'p50':>9} {'p90':>9} {'p99':>9} {'runs':>8}"]
    for wave in e.waves:
        label = f"Wave {wave.number}: {wave.name}"
        lines.append(_row(label, wave.seconds, str(wave.completed)))
    lines.append(_row("Total recovery time", e.total, str(e.completed)))
    lines.append("")
    lines.append(_rto_line(e))
    footer = f"({e.runs} runs in {elapsed:.1f}s; a wave's figures over the runs it completed in)"
    lines.append(footer)
    return [line[:80] for line in lines]


def _wrapped(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, indented by four."""
    import textwrap

    return ["    " + part for part in textwrap.wrap(text, width - 4)[:4]]


def _rto_line(e: Estimate) -> str:
    if e.rto_target_seconds is None or e.rto_probability is None:
        return "RTO: no target (the plan sets no RtoTargetSeconds)"
    met = round(e.rto_probability * e.runs)
    return (
        f"RTO {format_duration(e.rto_target_seconds)}: met in {met} of {e.runs} runs "
        f"(probability {e.rto_probability:.2f})"
    )
