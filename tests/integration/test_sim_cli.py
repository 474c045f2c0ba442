"""`drsorch sim serve` options, run in-process with click's runner (no socket kept open)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from drsorch.cli import EXIT_BAD_INPUT, main
from drsorch.sim.server import SimServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_servers_come_from_plans_scenario_and_generation(served: list[SimServer]) -> None:
    plan = ROOT / "examples" / "three-tier.yaml"
    scenario = ROOT / "examples" / "scenarios" / "calm-drill.yaml"
    args = ["sim", "serve", "--port", "0", "--plan", str(plan), "--scenario", str(scenario)]
    result = CliRunner().invoke(main, [*args, "--servers", "2", "--seed", "9"])
    assert result.exit_code == 0, result.output
    assert "18 source servers" in result.output  # 10 from the scenario, 6 + 2
    assert "seed 9" in result.output and "stopped after 0 calls" in result.output
    (server,) = served
    ids = set(server.region.source_server_ids)
    assert {"s-3d75cdc0d9a28a725", "s-4d5e6f7a8b9c0d1e2"} <= ids
    assert server.url.startswith("http://127.0.0.1:")


def test_a_bad_scenario_is_bad_input(tmp_path: Path, served: list[SimServer]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults:\n  - {kind: meteor}\n")
    result = CliRunner().invoke(main, ["sim", "serve", "--scenario", str(bad)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "meteor" in result.output
    assert served == []
