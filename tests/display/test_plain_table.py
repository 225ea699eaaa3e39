"""PlainTable draws, byte for byte, what rich's Table draws for the same cells, on a colour terminal and
piped, at any width: the trial table's fast layout changes its speed, not its look."""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console

from tuner.display.plain_table import PlainColumn, PlainTable

WORDS = ["relu", "0.001", "1.5e-05", "-", "", "gelu [fast]", "sigmoïde", "中文", "x" * 30, "a  b", "[bold]no[/bold]"]
ODD_WORDS = [" padded ", "two\nlines", "tab\there"]  # not plain: rich's Table draws the whole table
REASONS = [
    "",
    "timed out after 1 s",
    "exit code 1: RuntimeError: [Errno 2] No such file or directory: 'data/train.csv' (the log's last line)",
    "config does not render: RUNTIME ERROR: field x\n\tc.jsonnet:3:5-10\tobject <anonymous>",
    "averyveryveryveryveryveryveryveryverylongwordwithoutspacesthatmustfold/at/some/point.py",
    " leading and trailing space ",
]
STATES = ["green", "yellow", "red", "cyan", "white", ""]


def rendered(renderable: object, *, width: int, terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system="truecolor" if terminal else None)
    console.print(renderable)
    return out.getvalue()


def random_table(seed: int) -> PlainTable:
    chance = random.Random(seed)
    rows = chance.randint(0, 6)
    columns = [
        PlainColumn("#", [str(chance.randint(0, 999)) for _ in range(rows)], "right"),
        PlainColumn(
            "state",
            [chance.choice(["complete", "pruned", "fail"]) for _ in range(rows)],
            styles=[chance.choice(STATES) for _ in range(rows)],
        ),
    ]
    for index in range(chance.randint(0, 4)):
        header = chance.choice(["lr", "units", "act", "pruned at", "peak GPU MB", "[x]", f"p{index}"])
        cells = [chance.choice(WORDS if chance.random() < 0.97 else ODD_WORDS) for _ in range(rows)]
        columns.append(PlainColumn(header, cells, chance.choice(["left", "right"])))
    if chance.random() < 0.7:
        columns.append(PlainColumn("reason", [chance.choice(REASONS) for _ in range(rows)], folds=True))
    return PlainTable(columns)


def drawn_fast(table: PlainTable, width: int) -> bool:
    """Whether ``table`` is laid out by PlainTable itself at ``width`` (not handed to rich's Table)."""
    handed_over = []

    def rich_table():
        handed_over.append(True)
        return PlainTable.rich_table(table)

    table.rich_table = rich_table  # type: ignore[method-assign]
    try:
        rendered(table, width=width, terminal=False)
    finally:
        del table.rich_table
    return not handed_over


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "piped"])
def test_the_fast_layout_draws_what_rich_draws(terminal):
    ways = {True: 0, False: 0}
    for seed in range(80):
        table = random_table(seed)
        for width in (20, 38, 50, 72, 100, 140, 100_000):
            expected = rendered(table.rich_table(), width=width, terminal=terminal)
            assert rendered(table, width=width, terminal=terminal) == expected, f"seed {seed}, width {width}"
            ways[drawn_fast(table, width)] += 1
    assert ways[True] > 250 and ways[False] > 100  # both ways were compared, mostly the fast one


def test_long_and_multi_line_reasons_keep_the_fast_layout():
    reasons = REASONS + ["RUNTIME ERROR: x\n\tc.jsonnet:1:1"]
    numbers = [str(number) for number in range(len(reasons))]
    table = PlainTable([PlainColumn("#", numbers, "right"), PlainColumn("reason", reasons, folds=True)])
    for width in (40, 72, 100_000):
        assert drawn_fast(table, width)
        assert rendered(table, width=width, terminal=True) == rendered(table.rich_table(), width=width, terminal=True)


def test_a_long_reason_folds_in_the_room_left_and_the_other_cells_stay_on_its_first_line():
    reason = "exit code 1: RuntimeError: out of memory while allocating a tensor of shape (4096, 4096)"
    table = PlainTable([PlainColumn("#", ["7"], "right"), PlainColumn("reason", [reason], folds=True)])
    lines = rendered(table, width=40, terminal=False).splitlines()
    assert all(len(line) <= 40 for line in lines)
    body = lines[3:-1]
    assert body[0].startswith("│ 7 │ exit code 1")
    assert len(body) > 1 and all(line.startswith("│   │ ") for line in body[1:])
    assert " ".join(line[6:-1].strip() for line in body) == reason
