"""README.md and docs/ run as printed, and the command reference covers the command line.

Conventions of the pages, which these tests enforce:

- Every fenced block names its language: ``python``, ``sh``, ``yaml`` or ``text``.
- A ``python`` block is a complete program: it is written to a file and run with
  ``python FILE`` (so the Dask example's ``if __name__ == "__main__":`` guard is needed, as it
  would be for a reader). Blocks of ``>>>`` examples are doctests, run by
  tests/test_notes_doc.py; only docs/notes.md has them.
- A ``sh`` block holds commands, one a line; ``text`` blocks show what a command prints, each
  command on a line of its own starting with ``$ `` (followed by what it printed). Both kinds
  of commands run, in page order, in a fresh copy of the checkout per page (as a fresh clone
  has it): a page is read top to bottom, so a command may use what an earlier command on the
  same page wrote.
- A ``text`` block's printed lines without a digit must appear in what its commands print
  (numbers may differ from run to run; the layout, the names and the messages may not).
- A command whose comment says ``# takes minutes: tested with --help`` runs with ``--help``
  appended (the benchmarks); the page shows that comment, so the reader knows.
- ``nnclf graph ... | dot ...`` needs Graphviz (the pages say so); where ``dot`` is not
  installed, the part before ``| dot`` runs.
- A ``yaml`` block is a config (checked by nnclf's own loader) or, when it has ``base:``, a
  sweep file (expanded and checked by nnclf's sweep reader).
- A line ``--8<-- "configs/reference.yaml"`` in a block stands for that file (the site
  includes it with pymdownx.snippets), so the page shows the file as it is.
- Commands that install or set up rather than use nnclf are not run: :data:`NOT_RUN` is the
  whole list.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nnclf.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LANGUAGES = {"python", "sh", "yaml", "text"}

# Commands the pages show but the tests do not run: they install software, make a virtual
# environment, start this very test suite, or serve or build the site (the docs extra, not
# installed by the test command; test_the_site_builds_strictly builds it when it is).
NOT_RUN = (
    "python3 -m venv ",
    ". .venv/bin/activate",
    "pip install ",
    "python -m pytest",
    "mkdocs ",
    "apt-get install ",
    "brew install ",
)
LONG = "# takes minutes: tested with --help"
LONG_MARK = re.compile(r"\s+# [^#]*: tested with --help\s*$")
"""How a page marks a long command (``# takes minutes: tested with --help``, ``# half a
minute: ...``): the tests run it with ``--help``."""
FENCE = re.compile(r"^```(\S*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


SNIPPET = re.compile(r'^--8<-- "([^"]+)"\n', re.MULTILINE)


def blocks(page: Path) -> list[tuple[str, str]]:
    """The page's fenced blocks, in order, as (language, text); a line ``--8<-- "PATH"`` is
    the file PATH of the repository, as the site shows it (pymdownx.snippets)."""
    text = page.read_text(encoding="utf-8")
    return [
        (
            m.group(1),
            SNIPPET.sub(lambda s: (ROOT / s.group(1)).read_text(encoding="utf-8"), m.group(2)),
        )
        for m in FENCE.finditer(text)
    ]


def commands(language: str, text: str, graphviz: bool = True) -> list[str]:
    """The command lines of a ``sh`` or ``text`` block, the parts in :data:`NOT_RUN` left out
    (and a pipe into Graphviz's ``dot`` when ``graphviz`` is false)."""
    if language == "text":
        lines = [line[2:] for line in text.splitlines() if line.startswith("$ ")]
    else:
        lines = [line.strip() for line in text.splitlines()]
    out = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        long = LONG_MARK.search(line)
        if long:  # (however few spaces stand before it: the --help must not join the comment)
            line = line[: long.start()]
        line = re.sub(r"\s{2,}#.*$", "", line).rstrip()
        parts = [p for p in line.split(" && ") if not p.strip().startswith(NOT_RUN)]
        if parts:
            out.append(" && ".join(parts) + (" --help" if long else ""))
    if not graphviz:
        out = [line.split(" | dot ")[0] for line in out]
    return out


def shown(language: str, text: str) -> list[str]:
    """The printed lines of a ``text`` block that any run prints alike: those without a
    digit (numbers and timings may differ from run to run and machine to machine)."""
    if language != "text":
        return []
    return [
        line
        for line in text.splitlines()
        if line.strip() and not line.startswith("$ ") and line.strip() != "..."
        if not any(c.isdigit() for c in line)
    ]


def _words(text: str) -> str:
    return " ".join(text.split())


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_every_block_names_a_language_the_tests_know():
    assert sum(len(blocks(page)) for page in PAGES) > 40, "the pages lost their examples"
    for page in PAGES:
        for language, text in blocks(page):
            assert language in LANGUAGES, f"{_page_id(page)}: a ```{language} block:\n{text}"
            doctest_block = text.lstrip().startswith(">>>")
            assert not doctest_block or page.name == "notes.md", (
                f"{_page_id(page)}: >>> examples belong on docs/notes.md, run by "
                f"test_notes_doc.py; write a complete program here"
            )


def test_a_long_command_runs_with_help_whatever_the_space_before_its_comment():
    for gap in (" ", "    "):
        for mark in (LONG, "# half a minute: tested with --help"):
            line = f"python scripts/search_benchmark.py --seeds 5{gap}{mark}"
            assert commands("sh", line) == ["python scripts/search_benchmark.py --seeds 5 --help"]


def test_the_command_filter_runs_the_commands_and_leaves_out_only_installing():
    text = 'python3 -m venv .venv && . .venv/bin/activate && pip install ".[fast]" && nnclf x\n'
    assert commands("sh", text) == ["nnclf x"]
    assert commands("sh", "# a comment\nnnclf a  # what it does\n") == ["nnclf a"]
    assert commands("sh", f"python scripts/b.py --repeat 2  {LONG}\n") == [
        "python scripts/b.py --repeat 2 --help"
    ]
    assert commands("text", "$ nnclf info runs/x\nmodel  runs/x/model.npz\n") == [
        "nnclf info runs/x"
    ]
    assert commands("sh", "nnclf graph c.yaml | dot -Tpng > g.png\n", graphviz=False) == [
        "nnclf graph c.yaml"
    ]


def test_every_yaml_block_is_a_valid_config_or_sweep_file(tmp_path):
    from nnclf.config.load import config_from_dict
    from nnclf.sweeps.sweepfile import read_sweep

    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    shutil.copytree(ROOT / "data", tmp_path / "data")
    checked = 0
    for page in PAGES:
        for i, (language, text) in enumerate(blocks(page)):
            if language != "yaml":
                continue
            raw = yaml.safe_load(text)
            if isinstance(raw, dict) and "base" in raw:
                path = tmp_path / "configs" / f"doc_sweep_{i}.yaml"
                path.write_text(text, encoding="utf-8")
                plan = read_sweep(path)  # a tpe search makes its trials as it runs
                assert plan.trials or plan.search, f"{_page_id(page)}: a sweep with no trials"
            else:
                config_from_dict(raw, base_dir=ROOT)
            checked += 1
    assert checked >= 3


def test_the_configuration_page_names_every_config_key():
    from nnclf.config.load import config_from_dict, config_to_dict

    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [
        f"{section}.{key}"
        for section, keys in config_to_dict(config_from_dict({})).items()
        for key in (keys if isinstance(keys, dict) else [None])
        if not re.search(rf"`({section}\.)?{key or section}`", text)
    ]
    assert not missing, f"docs/configuration.md does not name: {', '.join(missing)}"


def _page_dir(tmp_path: Path) -> Path:
    """A copy of the checkout, as a fresh clone has it (without what runs leave behind)."""
    top = {".git", ".cache", ".hypothesis", ".pytest_cache", "runs", "sweeps", "site", "build"}

    def left_out(folder, names):
        at_top = Path(folder) == ROOT
        return [
            n
            for n in names
            if n == "__pycache__"
            or n.endswith(".egg-info")
            or (at_top and (n in top or n.startswith(".venv")))
        ]

    shutil.copytree(ROOT, tmp_path / "nnclf-clone", ignore=left_out)
    return tmp_path / "nnclf-clone"


def _environment(cwd: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(cwd)
    env["MPLBACKEND"] = "Agg"
    return env


def _run(args: list[str], cwd: Path, what: str) -> str:
    """Runs a command; its stdout and stderr, which must end with exit 0."""
    done = subprocess.run(
        args, cwd=cwd, env=_environment(cwd), capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, (
        f"{what} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done.stdout + done.stderr


def _run_shell(lines: list[str], cwd: Path, what: str) -> str:
    """The lines as one bash script that stops at the first failure; background jobs (a Dask
    scheduler and its workers) are ended when it ends. A pipeline's status is its last
    command's, as in the reader's shell (``nnclf predict ... --out - | head -3`` ends early)."""
    script = "set -eu\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
    return _run(["bash", "-c", script + "\n".join(lines)], cwd, what)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_command_and_program_on_the_page_runs_as_printed(page, tmp_path):
    if "dask" in page.read_text(encoding="utf-8") and shutil.which("dask") is None:
        pytest.importorskip("distributed")
    cwd = _page_dir(tmp_path)
    for i, (language, text) in enumerate(blocks(page)):
        what = f"{_page_id(page)}, block {i + 1} ({language})"
        if language == "python" and not text.lstrip().startswith(">>>"):
            program = cwd / f"block_{i + 1}.py"
            program.write_text(text, encoding="utf-8")
            _run([sys.executable, program.name], cwd, what + ":\n" + text)
        elif language in ("sh", "text"):
            lines = commands(language, text, graphviz=shutil.which("dot") is not None)
            if lines:
                printed = _words(_run_shell(lines, cwd, what + ": " + " / ".join(lines)))
                for line in shown(language, text):
                    assert _words(line) in printed, f"{what}: the page shows {line!r}\n{printed}"


# ----------------------------------------------------------------------------- the reference


def _sections(page: Path) -> dict[str, str]:
    """docs/commands.md by command: the text under each ``## `nnclf NAME ...``` heading."""
    sections, name = {}, None
    for line in page.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## `nnclf (\w+)", line)
        if heading:
            name = heading.group(1)
            sections[name] = ""
        elif line.startswith("## "):
            name = None
        elif name:
            sections[name] += line + "\n"
    return sections


def _options(parser) -> list[str]:
    """Every option string a user can give (hidden ones, help=SUPPRESS, left out)."""
    return [
        option
        for action in parser._actions
        if action.help != "==SUPPRESS==" and action.option_strings
        for option in action.option_strings
        if option not in ("-h", "--help")
    ]


def test_the_command_reference_documents_every_command_and_every_option():
    parser = build_parser()
    page = DOCS / "commands.md"
    sections = _sections(page)
    assert sorted(sections) == sorted(parser.commands), "one section per command, no other"
    missing = [
        f"nnclf {name} {option}"
        for name, sub in parser.commands.items()
        for option in _options(sub)
        if not re.search(rf"`[^`]*{re.escape(option)}\b", sections[name])
    ]
    text = page.read_text(encoding="utf-8")
    missing += [f"nnclf {option}" for option in _options(parser) if f"`nnclf {option}" not in text]
    assert not missing, f"docs/commands.md does not document: {', '.join(missing)}"


def test_the_command_reference_lists_every_exit_code():
    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    from nnclf import cli

    codes = {v for k, v in vars(cli).items() if k.startswith("EXIT_") and isinstance(v, int)}
    assert codes >= {0, 1, 2, 130, 143}
    for code in sorted(codes):
        assert re.search(rf"\|\s*{code}\s*\|", text), f"exit code {code} is not in the table"


DATA_KINDS = ("sklearn:NAME", ".csv", ".parquet", ".npz", "X.npy", "synthetic")


def test_the_help_of_every_command_taking_data_names_every_kind_of_data_source():
    parser = build_parser()
    taking_data = {
        name: sub
        for name, sub in parser.commands.items()
        if any("--data" in action.option_strings for action in sub._actions)
    }
    assert {"evaluate", "predict"} <= set(taking_data)
    for name, sub in taking_data.items():
        text = " ".join(sub.format_help().split())
        for kind in DATA_KINDS:
            assert kind in text, f"nnclf {name} --help does not name {kind}"


def test_graphviz_is_named_wherever_dot_renders_a_graph():
    help_text = " ".join(build_parser().commands["graph"].format_help().split())
    assert "Graphviz" in help_text and "apt-get install graphviz" in help_text
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        if "| dot " in text:
            assert "Graphviz" in text and "install graphviz" in text, _page_id(page)


def test_every_page_is_in_the_site_navigation():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def files(nav):
        for item in nav:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from files(value) if isinstance(value, list) else [value]

    assert sorted(files(config["nav"])) == sorted(p.name for p in DOCS.glob("*.md"))


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    _run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "s")],
        ROOT,
        "mkdocs build --strict",
    )
