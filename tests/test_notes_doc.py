"""docs/notes.md, the walkthrough of the notes, runs: every example on the page is executed
and its printed output compared, so the page can never drift from the code."""

import doctest
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "notes.md"


def test_every_example_on_the_notes_page_runs_and_prints_what_the_page_says():
    result = doctest.testfile(
        str(PAGE),
        module_relative=False,
        verbose=False,
        report=True,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted >= 60, "the page lost its examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples differ (see above)"


def test_the_page_follows_the_notes_section_by_section():
    headings = [
        line for line in PAGE.read_text(encoding="utf-8").splitlines() if line.startswith("## ")
    ]
    assert [h.split(". ", 1)[1] for h in headings] == [
        "Computational graphs",
        "The forward pass",
        "Jacobians",
        "The chain rule",
        "The backward pass",
        "Why it works: products of Jacobians over paths",
        "The network",
        "Stochastic gradient descent",
    ]
