"""What every test module shares: fixtures and the small helpers several modules use.

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

import numpy as np
import pytest

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)


def _hypothesis_profiles() -> None:
    """How many examples each property test tries, from one place. ``default`` is what every
    run uses: hypothesis' own 100 examples, and no deadline (a first example may compile a
    step or start a subprocess). ``thorough`` (``HYPOTHESIS_PROFILE=thorough``) searches ten
    times as long, for a change to a reader, a loader or a rule. ``NNCLF_EXAMPLES=N`` sets
    the count of either."""
    try:
        from hypothesis import settings
    except ImportError:  # the property tests skip without it
        return
    for name, examples in (("default", 100), ("thorough", 1000)):
        count = int(os.environ.get("NNCLF_EXAMPLES") or examples)
        settings.register_profile(name, max_examples=count, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


_hypothesis_profiles()

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


def random_problem(n=60, d=5, K=3, seed=0, every_class=False):
    """(X, y): n standard normal rows of d features and uniform labels 0..K-1, from ``seed``;
    with ``every_class``, the first K labels are 0..K-1 so that every class occurs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.integers(0, K, size=n)
    if every_class:
        y[:K] = np.arange(K)
    return X, y


def away_from_zero(rng, shape):
    """Entries with 0.2 <= |z| <= 2, so that relu's kink is never within eps."""
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def write_file(tmp_path, text, name="d.csv"):
    """``text`` written to ``tmp_path/name``; its path as a string."""
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="session")
def iris():
    """scikit-learn's iris, standardised: (X, y)."""
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def open_page():
    """``open_page(path)`` -> (page, report): the HTML file ``path`` opened from disk in one
    headless Chromium per test module (Playwright driving the system's ``chromium``; skipped
    without either). ``report["requests"]`` lists every request that was not for a file,
    ``report["errors"]`` every console error and uncaught exception."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the browser extra")
    import shutil

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("needs Chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])

        def opened(path):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            report = {"requests": [], "errors": []}
            page.on(
                "request",
                lambda r: None if r.url.startswith("file:") else report["requests"].append(r.url),
            )
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("file:") else route.abort()
                ),
            )
            page.on(
                "console", lambda m: report["errors"].append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda e: report["errors"].append(str(e)))
            page.goto(Path(path).resolve().as_uri())
            return page, report

        yield opened
        browser.close()
