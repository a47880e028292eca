"""What every test module shares.

The references the tests compare nnclf against live in :mod:`notes_reference` beside this
file: the closed-form transfer functions, the notes' network, the hand-derived gradients and
the one central-difference helper. Test modules import it by name. This directory is put on
``sys.path`` here, explicitly, so that the import works under every pytest import mode
(``--import-mode=importlib`` included), not only under the default that happens to prepend it.
"""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

# The compiled engine's generated steps and numba's machine code go to an ignored folder of
# the checkout (.cache/, in .gitignore), never to the user's own cache; subprocesses inherit it.
os.environ["NNCLF_CACHE_DIR"] = str(Path(TESTS).parent / ".cache" / "numba")


@pytest.fixture
def load_script():
    """``load_script("depth")``: scripts/depth.py imported as a module (its main not run)."""

    def load(name: str):
        path = Path(TESTS).parent / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"{name}_script", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
