"""DroppingStream: what a stream that takes no more does to a run's output."""

from __future__ import annotations

import errno
import io

import pytest

from drsorch.cli.streams import DroppingStream, unwritable

pytestmark = pytest.mark.unit


class _Failing(io.StringIO):
    """A stream whose writes fail with ``code`` from the ``after``-th one on."""

    def __init__(self, code: int, after: int = 0) -> None:
        super().__init__()
        self.code, self.left = code, after

    def write(self, text: str) -> int:
        if self.left <= 0:
            raise OSError(self.code, "failing")
        self.left -= 1
        return super().write(text)

    def fileno(self) -> int:  # no descriptor to point elsewhere
        raise io.UnsupportedOperation("fileno")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT])
def test_a_full_stream_is_said_once_then_dropped(code: int) -> None:
    told: list[OSError] = []
    stream = DroppingStream(_Failing(code, after=1), on_full=told.append)
    stream.write("kept\n")
    stream.write("lost\n")
    stream.write("lost too\n")
    assert [e.errno for e in told] == [code]
    assert stream.closed_by_reader
    assert stream.wrapped.getvalue() == "kept\n"


def test_a_reader_gone_is_dropped_without_a_word() -> None:
    told: list[OSError] = []
    stream = DroppingStream(_Failing(errno.EPIPE), on_full=told.append)
    stream.write("x")
    assert stream.closed_by_reader and told == []


def test_other_errors_still_raise() -> None:
    stream = DroppingStream(_Failing(errno.EACCES))
    with pytest.raises(OSError, match="failing"):
        stream.write("x")


def test_unwritable_knows_full_streams_only() -> None:
    assert unwritable(OSError(errno.ENOSPC, "full"))
    assert not unwritable(OSError(errno.ENOENT, "missing"))
    assert not unwritable(ValueError("no errno"))


def test_a_full_stream_raises_where_nothing_goes_on() -> None:
    """Outside a run (no ``on_full``) a full stream is the command's error: exit 2."""
    stream = DroppingStream(_Failing(errno.ENOSPC))
    with pytest.raises(OSError, match="failing"):
        stream.write("x")
    assert not stream.closed_by_reader
