"""TensorBoard, read back with tbparse: the scalars equal history.csv, the config is there as
text, each parameter has a histogram at every evaluation; a resumed run goes on in the same
folder; a sweep's trials each have their own folder under one root."""

import csv
from pathlib import Path

import pytest

pytest.importorskip("tensorboardX")
tbparse = pytest.importorskip("tbparse")

from nnclf.cli import main  # noqa: E402
from nnclf.config.load import load_config  # noqa: E402
from nnclf.runs import run  # noqa: E402
from nnclf.tracking.tensorboard import SCALARS  # noqa: E402

IRIS = """
data: {source: "sklearn:iris"}
model: {hidden_units: [4, 3]}
train: {epochs: 3}
track: {tensorboard: true}
"""


def history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    frame = tbparse.SummaryReader(str(folder)).scalars
    return {
        tag: sorted(zip(part["step"].tolist(), part["value"].tolist()))
        for tag, part in frame.groupby("tag")
    }


def check_against_history(folder: Path, run_dir: Path) -> None:
    rows, logged = history(run_dir), scalars(folder)
    assert set(logged) == set(SCALARS.values())
    for column, tag in SCALARS.items():
        expected = [(int(r["step"]), float(r[column])) for r in rows]
        # TensorBoard keeps float32: equal to history.csv's float64 to float32's rounding.
        assert [s for s, _ in logged[tag]] == [s for s, _ in expected]
        assert [v for _, v in logged[tag]] == pytest.approx([v for _, v in expected], rel=1e-6)


def test_a_run_writes_scalars_histograms_and_its_config(tmp_path):
    path = tmp_path / "iris.yaml"
    path.write_text(IRIS)
    outcome = run.train(load_config(path), tmp_path / "run", quiet=True)
    folder = outcome.run_dir / "tensorboard"
    check_against_history(folder, outcome.run_dir)
    reader = tbparse.SummaryReader(str(folder))
    steps = [int(r["step"]) for r in history(outcome.run_dir)]
    tags = set(reader.histograms["tag"])
    assert tags == {f"parameters/{p}" for p in ("W1", "b1", "W2", "b2", "V", "gamma")}
    for tag in tags:
        assert sorted(reader.histograms[reader.histograms["tag"] == tag]["step"]) == steps
    (text,) = reader.text["value"].tolist()
    assert "    track:\n" in text and "hidden_units:" in text


def test_a_resumed_run_goes_on_in_the_same_folder(tmp_path):
    path = tmp_path / "iris.yaml"
    path.write_text(IRIS)
    stopped = run.train(load_config(path), tmp_path / "run", quiet=True, stop_after=150)
    outcome = run.resume(stopped.run_dir, quiet=True)
    check_against_history(outcome.run_dir / "tensorboard", outcome.run_dir)


def test_runs_given_one_directory_each_have_a_folder_of_their_own(tmp_path):
    path = tmp_path / "iris.yaml"
    path.write_text(IRIS.replace("tensorboard: true", f"tensorboard: {tmp_path / 'tb'}"))
    for name in ("a", "b"):
        run.train(load_config(path), tmp_path / name, quiet=True)
        check_against_history(tmp_path / "tb" / name, tmp_path / name)
    assert not (tmp_path / "a" / "tensorboard").exists()


def test_a_sweeps_trials_have_one_folder_each_under_one_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text(IRIS.replace("tensorboard: true", "tensorboard: tb"))
    (tmp_path / "sweep.yaml").write_text(
        "base: base.yaml\ngrid:\n  train.schedule.eta0: [0.02, 0.1]\nmetric: val_log_loss\n"
    )
    assert main(["sweep", "sweep.yaml", "--out", "s", "--jobs", "1", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ["trial-0000", "trial-0001"]
    for trial in ("trial-0000", "trial-0001"):
        check_against_history(tmp_path / "tb" / trial, tmp_path / "s" / trial)
