"""A table of plain-text cells, drawn as rich draws its ``Table`` (heavy head, a space either side of a cell).

rich's ``Table`` measures and lays out every cell as a renderable of its own: 0.2-0.4 s for the trial
table of a 500-trial study. These cells are plain strings whose widths are their lengths in cells, so
:class:`PlainTable` lays a row out in one pass, as a few segments, and rich still writes them (colours
as the terminal allows, cropping to its width). A cell of the folding column that is too long for the
room left, or not plain (several lines, tabs), is laid out by rich, as its ``Table`` would. A table
that does not fit the width even so, or any other cell that is not plain, is drawn by rich's
``Table`` itself (:meth:`PlainTable.rich_table`): the same output either way, tested against it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from rich.box import HEAVY_HEAD
from rich.cells import cell_len
from rich.segment import Segment

from tuner.display.text import escape

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.style import Style
    from rich.table import Table

_PADDING = 2  # one space either side of a cell
_Line = list[Segment]


@dataclass(frozen=True)
class PlainColumn:
    """A column of plain-text cells; ``styles`` (rich style names, ``""`` for none) colour them one by one."""

    header: str
    cells: Sequence[str]
    justify: str = "left"  # or "right"
    folds: bool = False  # long cells fold onto more lines, in the room the other columns leave
    styles: Sequence[str] | None = None

    @cached_property
    def natural(self) -> int:
        """Cells the widest of its texts takes, the header's included."""
        return max(cell_len(text) for text in (self.header, *self.cells))

    def style(self, row: int) -> str:
        return self.styles[row] if self.styles else ""


class PlainTable:
    """A rich renderable: ``columns`` side by side, as rich's ``Table`` would draw them (see the module)."""

    def __init__(self, columns: Sequence[PlainColumn]) -> None:
        self.columns = list(columns)
        self.rows = len(self.columns[0].cells) if self.columns else 0

    def rich_table(self) -> Table:
        """The same table as a rich ``Table``: numbers and words whole (no narrower than their widest cell)."""
        from rich.table import Table
        from rich.text import Text

        table = Table(show_lines=False)
        for column in self.columns:
            table.add_column(
                escape(column.header),
                justify=column.justify,  # type: ignore[arg-type]
                no_wrap=not column.folds,
                overflow="fold" if column.folds else "ellipsis",
                min_width=None if column.folds else column.natural,
            )
        for row in range(self.rows):
            table.add_row(*(Text(column.cells[row], style=column.style(row)) for column in self.columns))
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self._widths(console, options)
        header = self._header(console, options, widths) if widths else None
        if widths is None or header is None:
            yield self.rich_table()
            return
        box = HEAVY_HEAD.substitute(options, safe=console.safe_box)
        yield Segment(box.get_top(widths) + "\n")
        yield from _joined([[line] for line in header], widths, (box.head_left, box.head_vertical, box.head_right))
        yield Segment(box.get_row(widths, "head", edge=True) + "\n")
        columns = self.columns
        styles = {name: console.get_style(name) for column in columns for name in set(column.styles or ()) if name}
        for row in range(self.rows):
            edges = (
                (box.foot_left, box.foot_vertical, box.foot_right)
                if row == self.rows - 1
                else (box.mid_left, box.mid_vertical, box.mid_right)
            )
            cells = [self._cell(console, options, column, width, row, styles) for column, width in zip(columns, widths)]
            yield from _joined(cells, widths, edges)
        yield Segment(box.get_bottom(widths) + "\n")

    def _widths(self, console: Console, options: ConsoleOptions) -> list[int] | None:
        """Each column's width (its padding included) as rich's ``Table`` gives them; None where rich must lay it out.

        Every column but the folding one is as wide as its widest cell; the folding one takes what is
        left of the width, up to its widest line.
        """
        from rich.measure import Measurement
        from rich.text import Text

        room = options.max_width - len(self.columns) - 1  # the edges and the lines between columns
        folding = [index for index, column in enumerate(self.columns) if column.folds]
        if room < 1 or len(folding) > 1:
            return None
        widths = []
        for column in self.columns:
            if column.folds:
                widest = max(
                    cell_len(text) if _plain(text) else Measurement.get(console, options, Text(text)).maximum
                    for text in (column.header, *column.cells)
                )
                widths.append(min(widest + _PADDING, room))
            elif all(_plain(text) for text in column.cells):
                widths.append(column.natural + _PADDING)
            else:
                return None
        excess = sum(widths) - room
        if excess > 0 and folding:
            widths[folding[0]] -= min(excess, widths[folding[0]])
            excess = sum(widths) - room
            if widths[folding[0]] <= _PADDING:
                return None
        return None if excess > 0 else widths

    def _header(self, console: Console, options: ConsoleOptions, widths: list[int]) -> list[_Line] | None:
        """The header row's cells, bold, laid out by rich; None where a header is not plain text."""
        from rich.padding import Padding

        style = console.get_style("table.header")
        cells = []
        for column, width in zip(self.columns, widths):
            markup = escape(column.header)
            if not _plain(column.header) or console.render_str(markup, highlight=False).plain != column.header:
                return None  # rich's emoji codes (":thumbs_up:") would change it
            cell_options = _cell_options(options, column, width)
            lines = console.render_lines(Padding(markup, (0, 1)), cell_options, style=style)
            if len(lines) != 1:
                return None
            cells.append(lines[0])
        return cells

    def _cell(
        self,
        console: Console,
        options: ConsoleOptions,
        column: PlainColumn,
        width: int,
        row: int,
        styles: dict[str, Style],
    ) -> list[_Line]:
        """One cell's lines, each ``width`` cells wide."""
        text = column.cells[row]
        room = width - _PADDING
        if _plain(text) and cell_len(text) <= room:
            spaces = " " * (room - cell_len(text))
            padded = text + spaces if column.justify == "left" else spaces + text
            style = styles.get(column.style(row))
            return [[Segment(" "), Segment(padded, style), Segment(" ")] if style else [Segment(f" {padded} ")]]
        from rich.padding import Padding
        from rich.text import Text

        cell_options = _cell_options(options, column, width)
        return console.render_lines(Padding(Text(text, style=column.style(row)), (0, 1)), cell_options)


def _plain(text: str) -> bool:
    """Text that takes one line as it is: printable, no space at either end (rich would strip it)."""
    return text.isprintable() and text == text.strip()


def _joined(cells: list[list[_Line]], widths: list[int], edges: tuple[str, str, str]) -> Iterator[Segment]:
    """A row's lines: its cells (each a list of lines) between the edges and dividers, blank below a shorter
    cell (the cells are aligned to the top), each run of unstyled segments joined into one."""
    left, divider, right = edges
    height = max(len(lines) for lines in cells)
    for line in range(height):
        plain = [left]
        for index, (lines, width) in enumerate(zip(cells, widths)):
            if index:
                plain.append(divider)
            if line < len(lines):
                for segment in lines[line]:
                    if segment.style or segment.control:
                        yield Segment("".join(plain))
                        yield segment
                        plain = []
                    else:
                        plain.append(segment.text)
            else:
                plain.append(" " * width)
        plain.append(right + "\n")
        yield Segment("".join(plain))


def _cell_options(options: ConsoleOptions, column: PlainColumn, width: int) -> ConsoleOptions:
    """How rich lays out one cell of ``column``: its width, justification and overflow, as rich's Table does."""
    return options.update(
        width=width,
        justify=column.justify,  # type: ignore[arg-type]
        no_wrap=not column.folds,
        overflow="fold" if column.folds else "ellipsis",
        height=None,
        highlight=False,
    )
