"""Text tables: the one formatter every table nnclf prints goes through."""

from __future__ import annotations

__all__ = ["format_table"]


def format_table(rows: list[list[str]], right=frozenset(), min_widths=()) -> str:
    """Rows of cells as aligned text columns, two spaces apart.

    Parameters
    ----------
    rows : list of lists of str
        The cells, the header row first; every row has the same number of cells.
    right : set of int
        The columns whose cells are right-aligned (numbers); the others are left-aligned.
    min_widths : sequence of int
        The least width of the first columns; otherwise a column is as wide as its widest cell.

    Returns
    -------
    str
        One line per row, without trailing blanks and without a final newline.
    """
    widths = [
        max([len(row[c]) for row in rows] + list(min_widths[c : c + 1]))
        for c in range(len(rows[0]))
    ]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if c in right else cell.ljust(w)
            for c, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in rows
    )
