"""Output for a person: rich tables and progress bars on a terminal, plain text when piped or captured.

Rich writes no colour or cursor codes to a file or a pipe (nor with NO_COLOR set), and the progress bars here
are drawn on a terminal only, so what logs and tests capture is plain text: the messages and the tables.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

Item = TypeVar("Item")

# Off a terminal there is no window to fit: wide enough that table rows in a log are not wrapped.
LOG_WIDTH = 160


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr). Strings print as they are: no markup, no highlighting."""
    console = Console(stderr=stderr, markup=False, highlight=False)
    if not console.is_terminal:
        console.width = LOG_WIDTH
    return console


def table(*columns: str, numbers: tuple[str, ...] = ()) -> Table:
    """A plain table: a rule under the header, no frame; the columns named in `numbers` right-aligned."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in columns:
        table.add_column(name, justify="right" if name in numbers else "left")
    return table


def tracked(items: Iterable[Item], total: int, description: str, console: Console) -> list[Item]:
    """Every item of `items` (an iterator that takes a while), with a progress bar while they come."""
    progress = _progress(console, TextColumn("{task.completed:.0f}/{task.total:.0f}"))
    with progress:
        task = progress.add_task(description, total=total)
        collected = []
        for item in items:
            collected.append(item)
            progress.advance(task)
    return collected


@contextmanager
def training_progress(console: Console) -> Iterator[Callable]:
    """A `progress` callback for `training.train.train`: its messages printed, its epochs as a bar."""
    progress = _progress(console, TextColumn("epoch {task.completed:.1f}/{task.fields[epochs]}"))
    with progress:
        task = progress.add_task("training", total=None, epochs="?")  # the number of epochs follows the dataset

        def show(event) -> None:
            if event.message:
                # above the bar, as written: a path with [brackets] is no markup
                progress.console.print(event.message, markup=False, highlight=False, soft_wrap=True)
            if event.epochs:
                progress.update(task, total=event.epochs, completed=event.epochs_done, epochs=event.epochs)

        yield show


def _progress(console: Console, count: TextColumn) -> Progress:
    # Transient: once done, the bar gives way to the results.
    return Progress(TextColumn("{task.description}"), BarColumn(), count, TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal)
