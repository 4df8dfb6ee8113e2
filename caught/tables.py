"""The one table renderer: a header and rows of text cells, as markdown (reports, `--out x.md`) or as a rich table
(the terminal). Callers build the cells; this module only lays them out."""

from __future__ import annotations

from collections.abc import Sequence


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", "<br>")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    if caption:
        lines += ["", caption]
    return "\n".join(lines) + "\n"


def rich(header: Sequence[str], rows: Sequence[Sequence[str]], title: str = "", caption: str = "",
         show_lines: bool = False, first_wide: bool = True):
    from rich.table import Table

    table = Table(title=title or None, caption=caption or None, title_justify="left", show_lines=show_lines)
    for i, h in enumerate(header):
        first = i == 0 and first_wide
        table.add_column(h, justify="left" if first or not first_wide else "right", no_wrap=first, overflow="fold")
    for r in rows:
        table.add_row(*map(str, r))
    return table
