"""nnclf.base.tables: the one formatter of every text table, against layouts written by hand."""

from nnclf.base.tables import format_table


def test_columns_are_as_wide_as_their_widest_cell_two_spaces_apart():
    rows = [["name", "n"], ["a", "100"], ["longer", "7"]]
    assert format_table(rows, right={1}) == ("name      n\na       100\nlonger    7")


def test_left_aligned_last_column_has_no_trailing_blanks():
    assert format_table([["x", "long"], ["yy", "s"]]) == "x   long\nyy  s"


def test_min_widths_widen_only_the_columns_they_name():
    rows = [["", "n", "m"], ["ab", "1", "2"]]
    assert format_table(rows, right={1, 2}, min_widths=(4, 3)) == ("        n  m\nab      1  2")


def test_a_cell_wider_than_its_min_width_widens_the_column():
    rows = [["validation", "12345"]]
    assert format_table(rows, right={1}, min_widths=(3, 2)) == "validation  12345"
