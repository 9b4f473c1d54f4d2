"""Progress of long runs: a bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import io

from bridge.commands.progress import BarProgress, LineProgress, progress_for


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_at_most_once_per_interval_and_at_the_end() -> None:
    """Without a terminal: a line when the interval has passed, and the final state at close."""
    stream, clock = io.StringIO(), _Clock()
    progress = LineProgress(stream, 10, label="dlq replay", interval_s=5.0, clock=clock)
    progress.advance(1, "replayed=1")
    clock.now += 5.0
    progress.advance(2, "replayed=3")
    progress.advance(1, "replayed=4")
    progress.close()
    assert ["dlq replay: 3/10 replayed=3", "dlq replay: 4/10 replayed=4"] == (
        stream.getvalue().splitlines()
    )


def test_close_does_not_repeat_the_last_line() -> None:
    """A final state already shown is not printed twice."""
    stream, clock = io.StringIO(), _Clock()
    progress = LineProgress(stream, 1, label="x", interval_s=1.0, clock=clock)
    clock.now += 1.0
    progress.advance(1, "done")
    progress.close()
    assert ["x: 1/1 done"] == stream.getvalue().splitlines()


def test_a_terminal_gets_a_bar_and_a_pipe_gets_lines() -> None:
    """The display is chosen by whether the stream is a terminal."""
    terminal = _Terminal()
    bar = progress_for(terminal, 5, label="dlq replay", unit="records")
    bar.advance(5, "replayed=5")
    bar.close()
    assert isinstance(bar, BarProgress)
    assert "5/5" in terminal.getvalue()
    assert isinstance(progress_for(io.StringIO(), 5, label="x", unit="y"), LineProgress)
