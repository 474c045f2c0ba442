"""Fixtures of the integration layer."""

from __future__ import annotations

import pytest

from drsorch.sim.server import SimServer


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[SimServer]:
    """`sim serve` returns as soon as it would block (as Ctrl-C would), keeping the server."""
    seen: list[SimServer] = []

    def interrupted(self: SimServer) -> None:
        seen.append(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(SimServer, "serve_forever", interrupted)
    return seen
