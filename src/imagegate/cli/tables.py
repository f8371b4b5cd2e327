"""Tables that fit the terminal: columns chosen by width and priority, money never cut.

Every CLI table names its columns with a priority. When the rows at their natural widths do not
fit the console (``COLUMNS``, or the terminal's width), the least important columns are left out
until they do; the table's caption says which, and ``--json`` always has everything. Only when the columns
that are always shown still do not fit, a column marked ``shrink`` (names, ids) folds onto
several lines; every other column (money, counts, times) keeps its full width, so a figure is
never cut.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

# Per column, rich's default box spends one separator and one space of padding on each side.
COLUMN_OVERHEAD = 3


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its heading, how important it is (0 = always shown), alignment, whether it may fold."""

    heading: str
    priority: int = 0
    justify: Literal["left", "right"] = "left"
    shrink: bool = False


def terminal_width() -> int:
    """The width to fit: ``COLUMNS`` if set, else the terminal's, else 80 (output to a pipe or file)."""
    return shutil.get_terminal_size(fallback=(80, 24)).columns


def print_fitted(console: Console, columns: list[Column], rows: list[list[str]], **options: Any) -> None:
    """Print :func:`fitted_table` at the terminal's width, looked up now.

    A console of exactly that width prints it: ``console`` fixed its own width when it was made
    (and caps any wider print), which would cut the columns this table was sized to keep whole.
    """
    width = terminal_width()
    sized = Console(width=width, file=console.file, force_terminal=console.is_terminal, highlight=False)
    sized.print(fitted_table(width, columns, rows, **options))


def fitted_table(
    width: int,
    columns: list[Column],
    rows: list[list[str]],
    *,
    title: str | None = None,
    caption: str | None = None,
    sections_before: frozenset[int] = frozenset(),
) -> Table:
    """A table of ``rows`` with as many ``columns`` as fit ``width`` characters (most important kept).

    ``sections_before`` holds row indexes that start a new section (a rule above them, e.g. a total).
    """
    keep = _columns_that_fit(width, columns, rows)
    dropped = [column.heading for index, column in enumerate(columns) if index not in keep]
    notes = [caption] if caption is not None else []
    if dropped:
        notes.append(f"not shown at this width: {', '.join(dropped)} (widen the terminal or use --json)")
    table = Table(title=title, title_justify="left", caption=" · ".join(notes) or None, caption_justify="left")
    for index in keep:
        column = columns[index]
        natural = _natural_width(index, column, rows)
        if column.shrink:
            table.add_column(column.heading, justify=column.justify, overflow="fold")
        else:
            table.add_column(column.heading, justify=column.justify, no_wrap=True, min_width=natural)
    for position, row in enumerate(rows):
        if position in sections_before:
            table.add_section()
        table.add_row(*(row[index] for index in keep))
    return table


def _natural_width(index: int, column: Column, rows: list[list[str]]) -> int:
    return max([len(column.heading), *(len(row[index]) for row in rows)])


def _columns_that_fit(width: int, columns: list[Column], rows: list[list[str]]) -> list[int]:
    # Names at full width read better than one more figure: columns go before any name folds.
    needed = {index: _natural_width(index, column, rows) for index, column in enumerate(columns)}
    keep = list(range(len(columns)))

    def fits(indexes: list[int]) -> bool:
        return sum(needed[i] + COLUMN_OVERHEAD for i in indexes) + 1 <= width

    droppable = sorted((i for i in keep if columns[i].priority > 0), key=lambda i: (-columns[i].priority, -i))
    dropped = []
    for index in droppable:
        if fits(keep):
            break
        keep.remove(index)
        dropped.append(index)
    # A narrow column dropped on the way may fit beside the wide one dropped after it.
    for index in reversed(dropped):
        if fits(sorted([*keep, index])):
            keep = sorted([*keep, index])
    return keep
