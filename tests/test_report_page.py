"""nnclf report: a run's or a sweep's page, its data against the run's own files, and the page
itself in a real browser (the tests using ``open_page`` skip without the browser extra and
Chromium)."""

from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
import pytest
from pages import screenshot, to_digits

from nnclf.cli import main

CONFIG = """seed: 2
data: {source: 'sklearn:iris'}
model: {hidden_units: 4}
train: {epochs: 3, schedule: {name: constant, eta0: 0.05}}
"""
SWEEP = """base: tiny.yaml
grid:
  model.hidden_units: [2, 5]
  train.schedule.eta0: [0.01, 0.1]
metric: val_log_loss
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small trained run, and its page."""
    where = tmp_path_factory.mktemp("report")
    (where / "tiny.yaml").write_text(CONFIG)
    assert main(["train", str(where / "tiny.yaml"), "--quiet", "--out", str(where / "run")]) == 0
    assert main(["report", str(where / "run")]) == 0
    return where / "run"


def page_data(path) -> dict:
    text = path.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def test_the_page_holds_the_runs_files_and_stays_small(run):
    data = page_data(run / "report.html")
    assert data["metrics"] == json.loads((run / "metrics.json").read_text())
    steps = [int(line.split(",")[0]) for line in (run / "history.csv").read_text().split()[1:]]
    assert data["history"]["step"] == steps
    assert data["card"]["architecture"]["layers"] == [4]
    assert data["config"] == (run / "config.yaml").read_text()
    assert (run / "report.html").stat().st_size < 1_000_000


def test_the_template_is_shipped_with_the_package():
    text = resources.files("nnclf.runs").joinpath("templates", "report.html").read_text()
    assert "/*DATA*/" in text and "<script src" not in text and "<link" not in text


def test_report_out_follows_the_rules_of_every_out(run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(run), "--out", "r.html"]) == 0
    assert main(["report", str(run), "--out", "r.html"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["report", str(run), "--out", "r.html", "--force"]) == 0
    assert main(["report", str(run), "--out", str(run / "x.html")]) == 2
    assert "this command reads" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "not a directory"),
        (lambda p: p.mkdir(), "no history.csv, so not a finished nnclf run"),
    ],
)
def test_not_a_run_is_one_line_and_writes_nothing(make, message, tmp_path, capsys):
    target = tmp_path / "target"
    make(target)
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == (["target"] if target.exists() else [])
    assert not target.exists() or not list(target.iterdir())


@pytest.mark.slow  # (a subprocess: the browser)
def test_the_run_page_shows_the_metrics_of_metrics_json(open_page, run):
    page, report = open_page(run / "report.html")
    metrics = json.loads((run / "metrics.json").read_text())
    for part in ("train", "validation", "test"):
        for score in ("accuracy", "balanced_accuracy", "log_loss", "macro_f1", "n_samples"):
            cell = page.inner_text(f'#scores td[data-split="{part}"][data-score="{score}"]')
            assert float(cell) == pytest.approx(float(to_digits(metrics[part][score])), rel=1e-9)
        cells = page.locator(f'table.cm[data-split="{part}"] tbody td').all_inner_texts()
        assert (
            np.array(cells, dtype=int).tolist()
            == np.ravel(metrics[part]["confusion_matrix"]).tolist()
        )
    assert page.locator("#curves svg.chart polyline").count() == 4  # train, val loss; acc; eta
    screenshot(page, "report-run")
    assert report == {"requests": [], "errors": []}


@pytest.mark.slow
def test_the_sweep_page_sorts_its_trials_by_any_column(open_page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(CONFIG)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    assert main(["sweep", "sweep.yaml", "--jobs", "2", "--out", "sw", "--quiet"]) == 0
    assert main(["report", "sw"]) == 0
    page, report = open_page(tmp_path / "sw" / "report.html")
    csv = (tmp_path / "sw" / "sweep.csv").read_text().split()
    head, rows = csv[0].split(","), [r.split(",") for r in csv[1:]]
    k = head.index("val_log_loss")

    def column(name):
        index = head.index(name) + 1
        return page.locator(f"#trials tbody tr td:nth-child({index})").all_inner_texts()

    page.click('#trials th[data-column="val_log_loss"]')
    assert [float(v) for v in column("val_log_loss")] == sorted(
        float(to_digits(float(r[k]))) for r in rows
    )
    page.click('#trials th[data-column="val_log_loss"]')
    assert [float(v) for v in column("val_log_loss")] == sorted(
        (float(to_digits(float(r[k]))) for r in rows), reverse=True
    )
    page.click('#trials th[data-column="trial"]')
    assert column("trial") == sorted(r[0] for r in rows)
    assert page.locator("#axes svg.chart").count() == 2
    assert page.locator("#axes svg.chart circle").count() == 2 * len(rows)
    screenshot(page, "report-sweep")
    assert report == {"requests": [], "errors": []}
