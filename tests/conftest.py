"""Shared pytest configuration for every test layer.

- Each test gets the marker of its layer from its folder (``unit``, ``property``,
  ``integration``, ``e2e``), so ``pytest -m unit`` works without decorating every test.
- Hypothesis profiles: ``default`` (no deadline: CI machines are slow and shared) and
  ``ci`` (the same, derandomized); pick with ``--hypothesis-profile=ci``. Neither runs the
  ``explain`` phase: it traces every line of a failing example's re-runs, which makes an
  engine property take minutes to report a failure, past the per-test timeout
  (pyproject.toml, pytest-timeout) that would then kill it before it printed the example.
- Fixtures: ``fixtures_dir`` (tests/fixtures). Plan helpers live in tests.utils.plans.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import Phase, settings

_PHASES = [phase for phase in Phase if phase is not Phase.explain]
settings.register_profile("default", deadline=None, phases=_PHASES)
settings.register_profile("ci", deadline=None, derandomize=True, phases=_PHASES)
settings.load_profile("default")

_LAYERS = ("unit", "property", "integration", "e2e")
_TESTS_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            layer = Path(item.path).relative_to(_TESTS_DIR).parts[0]
        except ValueError:
            continue
        if layer in _LAYERS and item.get_closest_marker(layer) is None:
            item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture
def fixtures_dir() -> Path:
    return _TESTS_DIR / "fixtures"
