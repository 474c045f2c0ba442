"""``validate`` and the engine agree (issue 7): a plan the validator accepts is run by the
engine on the simulator to its end (COMPLETED or FAILED, no exception, not idling until its
timeout); a plan it rejects is rejected with every problem at a field path. Generated valid
plans, one-way mutations and hostile perturbations (look-alike numbers, whitespace, Unicode
digits, control characters...) all go through both."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.utils.plan_agreement import agree
from tests.utils.plans import (
    Mutation,
    Perturbation,
    hostile_plans,
    invalid_plans,
    plans,
)

from drsorch.cli import main
from drsorch.plan import parse_plan, validate_data

pytestmark = [pytest.mark.property, pytest.mark.timeout(60)]  # a hang fails, not blocks

# Small plans: each accepted example is a whole simulated execution (~0.1 s).
SMALL = {"max_waves": 4, "max_servers_per_wave": 3}


@settings(max_examples=12)
@given(plans(**SMALL))
def test_every_generated_plan_validates_and_runs_to_its_end(data: dict[str, Any]) -> None:
    assert agree(data) is not None


@settings(max_examples=25)
@given(invalid_plans(**SMALL))
def test_every_mutation_is_rejected_at_its_path(mutation: Mutation) -> None:
    assert agree(mutation.data) is None
    assert mutation.found_in(validate_data(mutation.data)[1]), mutation.expected


@settings(max_examples=60)
@given(hostile_plans(**SMALL))
def test_hostile_plans_are_rejected_where_they_are_wrong_or_run_to_their_end(
    p: Perturbation,
) -> None:
    plan = agree(p.data)
    if p.verdict == "accept":
        assert plan == parse_plan(p.original), (p.kinds, validate_data(p.data)[1])
    if p.verdict == "reject":
        assert plan is None, (p.kinds, p.data)
        assert p.found_in(validate_data(p.data)[1]), (p.kinds, p.paths)


# Only plans the perturbations changed: a dependency spelling changes nothing in a plan
# without Dependencies, and nearly a third of the examples were such unchanged generated
# plans (the first test's job). 14 examples: as many changed plans as 20 examples gave.
@settings(max_examples=14)
@given(
    hostile_plans(
        kinds=["dependency_spelling", "server_whitespace"], max_perturbations=3, **SMALL
    ).filter(lambda p: p.data != p.original),
)
def test_documented_spellings_and_whitespace_do_not_change_the_plan(p: Perturbation) -> None:
    """Every spelling the model accepts means one thing: the plan is the unchanged one."""
    plan = agree(p.data)
    assert plan == parse_plan(p.original)
    assert all(sid == sid.strip() for sid in plan.all_server_ids())


@settings(max_examples=5)
@given(
    hostile_plans(kinds=["dependency_spelling", "server_whitespace"], **SMALL),
    st.sampled_from(["yaml", "json"]),
)
def test_the_run_command_runs_what_the_validate_command_accepts(p: Perturbation, fmt: str) -> None:
    """The two commands, in-process, on the same file: validate says valid, run finishes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"plan.{fmt}"
        path.write_text(json.dumps(p.data) if fmt == "json" else yaml.safe_dump(p.data))
        runner = CliRunner()
        checked = runner.invoke(main, ["validate", str(path)])
        assert checked.exit_code == 0, checked.output
        ran = runner.invoke(
            main,
            ["run", str(path), "--drill", "--approve-all", "--json", "--store", f"{tmp}/h.db"],
        )
        assert ran.exit_code in (0, 1), ran.output
        assert json.loads(ran.stdout)["Status"] in {"COMPLETED", "FAILED"}
