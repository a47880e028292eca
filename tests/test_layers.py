"""The plan of the house: subpackages by layer, imports only downward, small functions.

import-linter checks the layers and the absence of import circles (``lint-imports``, run by
CI, and here when it is installed); these tests check what it does not: no private name
crosses a subpackage, every subpackage states its contract, every function stays short.
"""

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nnclf"
LAYERS = [
    "cli",
    "serving",
    "estimator",
    "sweeps",
    "runs",
    "tracking",
    "export",
    "config",
    "training",
    "data",
    "graph",
    "base",
    "errors",
]
MAX_FUNCTION_LINES = 60


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if ".cache" not in p.parts)


def dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def imports(path: Path):
    """(line, module imported, names) of every import in ``path``, lazy ones included."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []


def test_the_layers_in_pyproject_are_the_subpackages_in_the_tree():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    assert layers == [f"nnclf.{name}" for name in LAYERS]
    on_disk = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert on_disk == set(LAYERS) - {"cli", "errors"}


def test_imports_only_go_down_the_layers_lazy_ones_included():
    # The same rule import-linter enforces, checked here too so that a plain pytest run
    # (without the lint extra) catches an upward import.
    rank = {name: k for k, name in enumerate(LAYERS)}
    upward = []
    for path in modules():
        mine = layer_of(dotted(path))
        if mine not in rank:
            continue  # the package face, __main__ and the aliases of old module paths
        for line, module, _ in imports(path):
            theirs = layer_of(module) if module.startswith("nnclf.") else None
            if theirs in rank and rank[theirs] < rank[mine]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert upward == []


def test_no_private_name_is_imported_across_subpackages():
    crossing = []
    for path in modules():
        mine = layer_of(dotted(path))
        for line, module, names in imports(path):
            if not module.startswith("nnclf."):
                continue
            private_module = any(p.startswith("_") for p in module.split(".")[1:])
            private_names = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if layer_of(module) != mine and (private_module or private_names):
                crossing.append(f"{path.relative_to(ROOT)}:{line} {module} {private_names}")
    assert crossing == []


def test_every_subpackage_opens_with_its_contract():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "Contract" in doc, f"{init.relative_to(ROOT)} states no contract"


def test_every_function_is_at_most_60_lines():
    long = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert long == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="the lint extra is not installed")
def test_import_linter_keeps_every_contract():
    done = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


def test_the_architecture_page_maps_every_module():
    page = (ROOT / "docs" / "architecture.md").read_text()
    unmapped = [
        str(p.relative_to(ROOT))
        for p in modules()
        if p.name not in ("__init__.py", "__main__.py") and f"`{p.relative_to(ROOT)}`" not in page
    ]
    assert unmapped == []
