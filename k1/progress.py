"""Progress bars for the CLI, drawn by ``rich`` on stderr — only when stderr is a terminal, so
piped or logged output stays plain (the bars are transient: they vanish once done)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

StageProgress = Callable[[str, float], None]
"""``progress(stage, percent)``, the analyzer's progress callback."""


def is_terminal() -> bool:
    return sys.stderr.isatty()


def _progress(*columns):
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    return Progress(
        TextColumn("  {task.description}"),
        BarColumn(bar_width=30),
        *columns,
        console=Console(file=sys.stderr),
        transient=True,
    )


@contextmanager
def stage_bar(label: str, *, enabled: bool = True) -> Iterator[StageProgress | None]:
    """A ``progress(stage, percent)`` callback drawing ``label`` with a 0..100 % bar and the
    current stage; ``None`` when disabled or stderr is not a terminal."""
    if not (enabled and is_terminal()):
        yield None
        return
    from rich.progress import TaskProgressColumn, TextColumn

    with _progress(TaskProgressColumn(), TextColumn("{task.fields[stage]}")) as bar:
        task = bar.add_task(label, total=100.0, stage="")

        def report(stage: str, percent: float) -> None:
            bar.update(task, completed=min(max(percent, 0.0), 100.0), stage=stage)

        yield report


@contextmanager
def bytes_bar(label: str, total: int, *, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """An ``advance(n_bytes)`` callback drawing a transfer bar of ``total`` bytes (size, speed,
    time left); a no-op when disabled or stderr is not a terminal."""
    if not (enabled and is_terminal()):
        yield lambda n: None
        return
    from rich.progress import DownloadColumn, TimeRemainingColumn, TransferSpeedColumn

    with _progress(DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task(label, total=max(total, 1))
        yield lambda n: bar.advance(task, n)
