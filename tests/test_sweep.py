"""nnclf sweep: the sweep file, trials run in parallel (loky, Dask), resume, failures, plot.

Independent references: each trial's metrics against ``nnclf.runs.run.train`` of the config made
by its ``--set`` items (the command the summary prints); the random draws against a numpy
replay written here; an interrupted-then-resumed sweep against an uninterrupted one; the
Dask routes against the loky ones.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nnclf.cli import main
from nnclf.config.load import load_config
from nnclf.export.trained import TrainedModel
from nnclf.runs import run
from nnclf.sweeps.sweepfile import override, read_sweep

ROOT = Path(__file__).resolve().parent.parent
IRIS = ROOT / "data" / "iris.csv"
BASE = f"""\
seed: 0
data: {{source: {IRIS}, target: species}}
model: {{hidden_units: 4}}
train: {{epochs: 2}}
"""
GRID = """\
base: base.yaml
grid:
  model.transfer: [tanh, relu]
  train.schedule.eta0: [0.02, 0.1]
metric: val_accuracy
"""
METRICS = [
    f"{p}_{n}"
    for p in ("train", "val", "test")
    for n in ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")
]


def write(tmp_path: Path, sweep: str, name: str = "sweep.yaml") -> Path:
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / name).write_text(sweep)
    return tmp_path / name


def rows(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / "sweep.csv", newline="") as f:
        return list(csv.DictReader(f))


def metrics_of(sweep_dir: Path) -> dict:
    return {r["trial"]: ([r[m] for m in METRICS], r["status"]) for r in rows(sweep_dir)}


def sweep(*args, capsys=None) -> tuple[int, str, str]:
    code = main(["sweep", *map(str, args)])
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return code, out, err


# ----------------------------------------------------------------------------- sweep files


def test_grid_times_random_times_seeds_in_order(tmp_path):
    path = write(
        tmp_path,
        GRID + "random:\n  n: 3\n  model.hidden_units: {int_log_uniform: "
        "[2, 40]}\n  train.l2: {log_uniform: [1.0e-6, 1.0e-2]}\n"
        "seeds: [3, 4]\nseed: 7\n",
    )
    plan = read_sweep(path)
    rng = np.random.default_rng(7)  # the draws, replayed: in file order, one draw at a time
    draws = []
    for _ in range(3):
        h = min(max(round(math.exp(rng.uniform(math.log(1.5), math.log(40.5)))), 2), 40)
        l2 = float(f"{math.exp(rng.uniform(math.log(1e-6), math.log(1e-2))):.6g}")
        draws.append((h, l2))
    expected = [
        (t, e, h, l2, s)
        for t in ("tanh", "relu")
        for e in (0.02, 0.1)
        for h, l2 in draws
        for s in (3, 4)
    ]
    got = [
        (
            t.values["model.transfer"],
            t.values["train.schedule.eta0"],
            t.values["model.hidden_units"],
            t.values["train.l2"],
            t.seed,
        )
        for t in plan.trials
    ]
    assert got == expected
    assert plan.axes == ["model.transfer", "train.schedule.eta0", "model.hidden_units", "train.l2"]
    last = plan.trials[-1]
    assert last.name == "trial-0023" and last.config["seed"] == 4
    assert last.config["model"]["transfer"] == "relu"
    assert last.config["train"]["l2"] == draws[-1][1]


@pytest.mark.parametrize(
    "value",
    [
        "tanh",
        0.1,
        1.0e-05,
        7,
        [16, 8],
        True,
        None,
        {"name": "constant", "eta0": 0.25},
        "sklearn:iris",
    ],
)
def test_override_reads_back_the_same_value(value):
    from nnclf.config.load import parse_override

    assert parse_override(override("train.l2", value)) == (["train", "l2"], value)


def test_inline_base_and_default_seed(tmp_path):
    path = write(
        tmp_path,
        "base: {data: {source: sklearn:iris}, seed: 5, train: {epochs: 1}}\n"
        "grid: {model.hidden_units: [2, 3]}\n",
    )
    plan = read_sweep(path)
    assert [t.seed for t in plan.trials] == [5, 5] and plan.base is None
    assert [t.overrides for t in plan.trials] == [
        ["model.hidden_units=2"],
        ["model.hidden_units=3"],
    ]


BAD_SWEEPS = {
    "unknown top key": (
        "gird: {model.transfer: [tanh]}\nbase: base.yaml\n",
        "gird: unknown key; did you mean grid?",
    ),
    "unknown axis key": (
        "base: base.yaml\ngrid: {model.tranfer: [tanh]}\n",
        "grid.model.tranfer: model.tranfer: unknown key; did you mean model.transfer?",
    ),
    "empty axis": (
        "base: base.yaml\ngrid: {model.transfer: []}\n",
        "grid.model.transfer: empty axis; give at least one value",
    ),
    "bad value": (
        "base: base.yaml\ngrid: {model.transfer: [tanh, tahn]}\n",
        "grid.model.transfer: 'tahn': model.transfer: unknown transfer function",
    ),
    "too many trials": (
        "base: base.yaml\ngrid: {train.epochs: [1, 2, 3, 4, 5, 6]}\n"
        "seeds: [0, 1]\nmax_trials: 10\n",
        "the sweep asks for 12 trials (6 configurations x 2 seeds), more "
        "than max_trials 10; shrink the axes or raise max_trials",
    ),
    "bad distribution": (
        "base: base.yaml\nrandom: {n: 2, train.l2: {log_normal: [0, 1]}}\n",
        "random.train.l2: unknown distribution 'log_normal'; did you mean "
        "log_uniform? the distributions are uniform, log_uniform, "
        "int_uniform, int_log_uniform, choice",
    ),
    "bad bounds": (
        "base: base.yaml\nrandom: {n: 2, train.l2: {log_uniform: [0, 1]}}\n",
        "random.train.l2: log_uniform needs [low, high], numbers with 0 < low < high; got [0, 1]",
    ),
    "no n": (
        "base: base.yaml\nrandom: {train.l2: {uniform: [0, 1]}}\n",
        "random.n must be an integer >= 1, got None",
    ),
    "unknown metric": (
        "base: base.yaml\ngrid: {train.epochs: [1]}\nmetric: val_acc\n",
        "metric: unknown metric 'val_acc'; did you mean val_accuracy?",
    ),
    "nothing to sweep": ("base: base.yaml\nseeds: [0, 1]\n", "nothing to sweep"),
    "missing base": (
        "base: nowhere.yaml\ngrid: {train.epochs: [1]}\n",
        "base config 'nowhere.yaml' not found",
    ),
    "one key in grid and random": (
        "base: base.yaml\ngrid: {train.l2: [0.1]}\nrandom: {n: 2, train.l2: {uniform: [0, 0.5]}}\n",
        "train.l2 is in both grid and random, so one would override the other; "
        "keep it in one of them",
    ),
    "seed in grid and seeds": (
        "base: base.yaml\ngrid: {seed: [1, 2]}\nseeds: [0, 3]\n",
        "grid.seed and seeds both set the seed of each trial; give the seeds in one place "
        "(seeds: [...] trains each configuration once per seed)",
    ),
    "infinite bound": (
        "base: base.yaml\nrandom: {n: 2, train.l2: {uniform: [0.01, .inf]}}\n",
        "random.train.l2: uniform high must be a finite number in [-1e300, 1e300], got inf",
    ),
    "integer bound beyond int64": (
        "base: base.yaml\nrandom: {n: 2, train.epochs: {int_uniform: [1, 100000000000000000000000]}}\n",
        "random.train.epochs: int_uniform high must be an integer in [-2**62, 2**62], "
        "got 100000000000000000000000",
    ),
    "bound outside the setting": (
        "base: base.yaml\nrandom: {n: 2, train.momentum: {uniform: [0.5, 2]}}\n",
        "random.train.momentum: uniform high 2: train.momentum must be a number in [0, 1), got 2",
    ),
    "a grid of 10**8 points": (
        "base: base.yaml\ngrid:\n"
        + "".join(
            f"  {key}: {list(range(1, 101))}\n"
            for key in (
                "train.epochs",
                "train.batch_size",
                "model.hidden_units",
                "train.eval_every",
            )
        ),
        "the sweep asks for 100000000 trials (100000000 configurations x 1 seeds), more than "
        "max_trials 1000; shrink the axes or raise max_trials",
    ),
    "10**8 random draws": (
        "base: base.yaml\nrandom: {n: 100000000, train.l2: {uniform: [0, 0.5]}}\n",
        "the sweep asks for 100000000 trials",
    ),
    "two values that do not go together": (
        "base: base.yaml\ngrid: {train.momentum: [0.5]}\n"
        "random: {n: 1, train.optimizer: {choice: [adam]}}\n",
        "the trial train.momentum=0.5 train.optimizer=adam: train.momentum is 0.5, which only "
        "optimizer sgd uses",
    ),
}


@pytest.mark.parametrize("name", BAD_SWEEPS)
def test_a_bad_sweep_file_is_one_line_and_exit_2(name, tmp_path, capsys, monkeypatch):
    text, message = BAD_SWEEPS[name]
    path = write(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    code, out, err = sweep(path, "--out", tmp_path / "out", capsys=capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"nnclf: error: {path}: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "out").exists()


def test_usage_errors(tmp_path, capsys):
    assert sweep(capsys=capsys)[2].startswith("nnclf: error: sweep needs a SWEEP file")
    path = write(tmp_path, GRID)
    code, _, err = sweep(path, "--resume", tmp_path, capsys=capsys)
    assert code == 2 and "drop SWEEP" in err
    code, _, err = sweep("--resume", tmp_path, capsys=capsys)
    assert code == 2 and "not a sweep directory (no trials.json)" in err


# ----------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """The 4-trial grid, uninterrupted, with --jobs 2."""
    tmp = tmp_path_factory.mktemp("full")
    code = main(["sweep", str(write(tmp, GRID)), "--jobs", "2", "--out", str(tmp / "s"), "--quiet"])
    assert code == 0
    return tmp / "s"


def test_each_trial_is_the_run_its_command_makes(full, tmp_path, capsys):
    table = rows(full)
    assert [r["trial"] for r in table] == [f"trial-{i:04d}" for i in range(4)]
    assert {r["status"] for r in table} == {"finished"}
    plan = json.loads((full / "trials.json").read_text())
    for r, trial in zip(table, plan["trials"]):
        cfg = load_config(full.parent / "base.yaml", trial["overrides"])
        alone = run.train(cfg, tmp_path / r["trial"], quiet=True)
        assert [float(r[m]) for m in METRICS[:4]] == [
            alone.metrics["train"][n]
            for n in ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")
        ]
        assert float(r["val_accuracy"]) == alone.metrics["validation"]["accuracy"]
        saved = json.loads((full / r["trial"] / "metrics.json").read_text())
        assert saved["test"] == alone.metrics["test"]
        assert load_config(full / r["trial"] / "config.yaml").output.dir == str(full / r["trial"])
        # The model file, too, names the trial's directory, not the worker's temporary one.
        model = TrainedModel.load(full / r["trial"] / "model.npz")
        assert model.config["output"]["dir"] == str((full / r["trial"]).resolve())
    assert main(["evaluate", str(full / "trial-0002"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == float(table[2]["test_accuracy"])


def test_summary_ranks_by_mean_and_names_the_best_command(full, capsys):
    from nnclf.sweeps import sweep as sweeps

    plan, table = sweeps.load(full)
    text = sweeps.summary(full, plan, table)
    best = max(table.values(), key=lambda r: float(r["val_accuracy"]))
    lines = text.splitlines()
    assert lines[0] == f"sweep {full}: 4 trials, 4 finished, 0 failed"
    assert float(lines[2].split()[1]) == pytest.approx(float(best["val_accuracy"]), abs=1e-4)
    # The ranking is a table: each swept value starts under its axis's name.
    for axis, values in (
        ("model.transfer", ("tanh", "relu")),
        ("train.schedule.eta0", ("0.02", "0.1")),
    ):
        col = lines[1].index(axis)
        assert all(line[col:].split()[0] in values for line in lines[2:6]), text
    assert lines[-1].startswith(f"  nnclf train {full.parent / 'base.yaml'} --set model.transfer=")


@pytest.mark.slow
def test_resume_after_stop_runs_the_rest_and_equals_the_full_sweep(full, tmp_path, capsys):
    path = write(tmp_path, GRID)
    out = tmp_path / "s"
    code, _, err = sweep(
        path, "--jobs", "2", "--out", out, "--stop-after-trials", "1", capsys=capsys
    )
    assert code == 130
    assert f"nnclf: interrupted after 1 of 4 trials; resume with: nnclf sweep --resume {out}" in err
    first = [r["trial"] for r in rows(out)]
    assert len(first) == 1
    code, _, err = sweep("--resume", out, "--jobs", "2", capsys=capsys)
    assert code == 0
    assert "4 trials, 1 ended before" in err and f"{first[0]} finished" not in err
    assert metrics_of(out) == metrics_of(full)


def test_a_sweep_dir_runs_one_driver_at_a_time(tmp_path, capsys):
    from nnclf.runs import rundir
    from nnclf.sweeps import sweep as sweeps

    out = tmp_path / "s"
    sweeps.start(write(tmp_path, GRID), str(out))
    lock = rundir.lock_run(out, "sweep", "test")
    try:
        code, _, err = sweep("--resume", out, capsys=capsys)
    finally:
        lock.release()
    assert code == 2
    assert f"nnclf: error: sweep {out}: the run directory is in use by another nnclf (pid " in err
    assert rows(out) == []


def test_a_diverging_trial_is_recorded_and_the_others_finish(tmp_path, capsys):
    path = write(
        tmp_path,
        "base: base.yaml\ngrid:\n  train.schedule.eta0: [0.05, 1.0e+6]\n"
        "  model.transfer: [relu]\nmetric: val_log_loss\n",
    )
    code, out, err = sweep(path, "--jobs", "1", "--out", tmp_path / "s", capsys=capsys)
    assert code == 0
    table = rows(tmp_path / "s")
    assert [r["status"] for r in table] == ["finished", "failed"]
    assert "diverged" in table[1]["error"] and table[1]["val_log_loss"] == ""
    assert not (tmp_path / "s" / "trial-0001").exists()
    assert "2 trials, 1 finished, 1 failed" in out and "trial-0001 failed: " in out


def test_plot_of_a_sweep_dir(full, capsys):
    pytest.importorskip("matplotlib")
    assert main(["plot", str(full)]) == 0
    assert capsys.readouterr().out == f"wrote {full / 'sweep.png'}\n"
    assert (full / "sweep.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_resume_finishes(full, tmp_path):
    path = write(tmp_path, GRID)
    out = tmp_path / "s"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnclf", "sweep", str(path), "--jobs", "1", "--out", str(out)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        (out / "sweep.csv").is_file() and len(rows(out)) >= 1
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the sweep ended before SIGTERM arrived")
    assert proc.returncode == 143, err
    assert f"resume with: nnclf sweep --resume {out}" in err
    done = [r["trial"] for r in rows(out) if r["status"] == "finished"]
    assert 1 <= len(done) < 4 and all((out / t / "model.npz").is_file() for t in done)
    assert main(["sweep", "--resume", str(out), "--quiet"]) == 0
    assert metrics_of(out) == metrics_of(full)


# ----------------------------------------------------------------------------- Dask


def test_missing_dask_extra_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    code, _, err = sweep(
        write(tmp_path, GRID),
        "--out",
        tmp_path / "s",
        "--scheduler",
        "tcp://127.0.0.1:8786",
        capsys=capsys,
    )
    assert code == 2
    assert err.endswith(
        "nnclf: error: --scheduler needs Dask's distributed; install it with: "
        'pip install "nnclf[dask]"\n'
    )


@pytest.mark.slow
def test_unreachable_scheduler_is_one_line(tmp_path, capsys):
    pytest.importorskip("distributed")
    code, _, err = sweep(
        write(tmp_path, GRID),
        "--out",
        tmp_path / "s",
        "--scheduler",
        "tcp://127.0.0.1:9",
        capsys=capsys,
    )
    assert code == 2
    last = err.splitlines()[-1]
    assert last.startswith(
        "nnclf: error: --scheduler tcp://127.0.0.1:9: cannot reach the Dask scheduler ("
    ) and last.endswith("start one with: dask scheduler")


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as local:
        yield local


def test_the_same_sweep_on_a_dask_cluster(full, cluster, tmp_path, capsys):
    from distributed import Client, get_task_stream

    out = tmp_path / "s"
    with Client(cluster) as client, get_task_stream(client) as tasks:
        code, _, _ = sweep(
            write(tmp_path, GRID),
            "--out",
            out,
            "--scheduler",
            cluster.scheduler_address,
            "--quiet",
            capsys=capsys,
        )
    assert code == 0
    assert len(tasks.data) == 4  # one task per trial, on the cluster
    assert metrics_of(out) == metrics_of(full)
    assert (out / "trial-0003" / "model.npz").is_file()


def test_grid_search_under_the_dask_backend_equals_loky(cluster):
    from distributed import Client, get_task_stream
    from joblib import parallel_config
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV

    from nnclf import NNClassifier

    X, y = load_iris(return_X_y=True)
    grid = {"eta0": [0.02, 0.1], "transfer": ["tanh", "relu"]}

    def search():
        return GridSearchCV(
            NNClassifier(hidden_units=4, epochs=3, random_state=0), grid, cv=3, n_jobs=2
        ).fit(X, y)

    loky = search()
    with Client(cluster) as client, parallel_config(backend="dask"):
        with get_task_stream(client) as tasks:
            dask = search()
    assert len(tasks.data) >= 4  # the fits ran on the cluster
    assert dask.best_params_ == loky.best_params_
    np.testing.assert_array_equal(
        dask.cv_results_["mean_test_score"], loky.cv_results_["mean_test_score"]
    )


@pytest.mark.slow
def test_benchmark_script_runs(tmp_path):
    script = ROOT / "scripts" / "sweep_benchmark.py"
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("round 1: --jobs 1: ") and lines[1].startswith("round 1: --jobs 2: ")
    assert "speed-up" in lines[-2] and lines[-1].startswith("  load average")


# ----------------------------------------------------------------------------- whole trials


def test_a_trial_is_checked_whole_not_axis_by_axis(tmp_path):
    # nesterov alone on the base (momentum 0) is refused; with momentum from the other axis
    # it is what the user asked for.
    path = write(
        tmp_path,
        "base: base.yaml\ngrid:\n  train.momentum: [0.5, 0.9]\n  train.nesterov: [true, false]\n",
    )
    plan = read_sweep(path)
    assert [
        (t.config["train"]["momentum"], t.config["train"]["nesterov"]) for t in plan.trials
    ] == [
        (0.5, True),
        (0.5, False),
        (0.9, True),
        (0.9, False),
    ]


def test_a_schedule_name_axis_keeps_the_parameters_the_schedule_takes(tmp_path):
    path = write(
        tmp_path,
        "base: base.yaml\ngrid:\n  train.schedule.name: [constant, step]\n"
        "  train.schedule.factor: [0.5]\n  train.schedule.every: [10]\n",
    )
    with pytest.raises(Exception) as info:  # constant takes no factor: refused, named
        read_sweep(path)
    assert str(info.value) == (
        f"{path}: the trial train.schedule.name=constant train.schedule.factor=0.5 "
        "train.schedule.every=10: train.schedule: constant: unknown parameter 'factor'; "
        "valid parameters: eta0, warmup"
    )
    path = write(
        tmp_path, "base: base.yaml\ngrid: {train.schedule.name: [constant, inverse_time]}\n"
    )
    schedules = [t.config["train"]["schedule"] for t in read_sweep(path).trials]
    assert schedules == [
        {"name": "constant", "eta0": 0.05, "warmup": 0},
        {"name": "inverse_time", "eta0": 0.05, "tau": 20000, "warmup": 0},
    ]


def test_a_seed_axis_is_the_seed_column(tmp_path):
    from nnclf.sweeps import sweep as sweeps

    out = tmp_path / "s"
    _, plan = sweeps.start(write(tmp_path, "base: base.yaml\ngrid: {seed: [3, 4]}\n"), str(out))
    assert (out / "sweep.csv").read_text().splitlines()[0].split(",")[:3] == [
        "trial",
        "seed",
        "train_accuracy",
    ]
    assert [t.seed for t in plan.trials] == [3, 4]


def test_the_reproducing_command_names_the_base_from_anywhere(tmp_path, monkeypatch):
    sub = tmp_path / "sub"
    sub.mkdir()
    write(sub, "base: base.yaml\ngrid: {train.epochs: [1]}\n")
    monkeypatch.chdir(tmp_path)
    assert read_sweep("sub/sweep.yaml").base == str((sub / "base.yaml").resolve())


# ----------------------------------------------------------------------------- resuming


def resumed(source: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    return copy


def test_a_hand_edited_trials_json_is_one_line(full, tmp_path, capsys):
    out = resumed(full, tmp_path)
    record = json.loads((out / "trials.json").read_text())
    record["trials"][1]["config"]["train"]["epochs"] = "many"
    (out / "trials.json").write_text(json.dumps(record))
    code, _, err = sweep("--resume", out, capsys=capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"nnclf: error: {out / 'trials.json'}: trial 1: config is not valid (")
    assert err.endswith("the file was edited or damaged: restore the one nnclf sweep wrote\n")
    (out / "trials.json").write_text("{]")
    code, _, err = sweep("--resume", out, capsys=capsys)
    assert code == 2 and err.startswith(f"nnclf: error: {out / 'trials.json'}: not JSON")


@pytest.mark.parametrize(
    "column, value, problem",
    [
        ("seconds", "soon", "line 3: seconds 'soon' is not a number"),
        ("status", "done", "line 3: status 'done' is not one nnclf writes"),
        ("trial", "trial-0099", "line 3 names no trial of the sweep, or one named before"),
    ],
)
def test_a_hand_edited_sweep_csv_is_one_line(full, tmp_path, capsys, column, value, problem):
    out = resumed(full, tmp_path)
    table = rows(out)
    table[1][column] = value
    with open(out / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    code, _, err = sweep("--resume", out, capsys=capsys)
    assert code == 2 and err.count("\n") == 1
    assert err == (
        f"nnclf: error: {out / 'sweep.csv'}: {problem}; the file was edited or damaged: "
        "restore the one nnclf sweep wrote\n"
    )


def test_a_deleted_trial_folder_is_not_counted_and_runs_again(full, tmp_path, capsys):
    import shutil

    out = resumed(full, tmp_path)
    shutil.rmtree(out / "trial-0002")
    code, _, err = sweep("--resume", out, "--jobs", "1", capsys=capsys)
    assert code == 0
    assert "4 trials, 3 ended before" in err and "trial-0002 finished" in err and "[4/4]" in err
    assert metrics_of(out) == metrics_of(full)


def test_resume_refuses_changed_data(tmp_path, capsys):
    data = tmp_path / "iris.csv"
    data.write_text(IRIS.read_text())
    (tmp_path / "base.yaml").write_text(BASE.replace(str(IRIS), str(data)))
    (tmp_path / "sweep.yaml").write_text("base: base.yaml\ngrid: {model.hidden_units: [2, 3]}\n")
    out = tmp_path / "s"
    code, _, _ = sweep(
        tmp_path / "sweep.yaml",
        "--out",
        out,
        "--jobs",
        "1",
        "--stop-after-trials",
        "1",
        capsys=capsys,
    )
    assert code == 130
    data.write_text("".join(IRIS.read_text().splitlines(keepends=True)[:-5]))
    code, _, err = sweep("--resume", out, capsys=capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(
        f"nnclf: error: sweep {out}: the data {data} has changed since trial-0000 was trained "
        "(150 rows then, 145 now), so new trials would be ranked with old ones"
    )


def test_resume_refuses_a_sweep_whose_trials_were_split_by_nnclf_0_2(tmp_path, capsys):
    (tmp_path / "sweep.yaml").write_text("base: base.yaml\ngrid: {model.hidden_units: [2, 3]}\n")
    (tmp_path / "base.yaml").write_text(BASE)
    out = tmp_path / "s"
    argv = (tmp_path / "sweep.yaml", "--out", out, "--jobs", "1", "--stop-after-trials", "1")
    assert sweep(*argv, capsys=capsys)[0] == 130
    metrics = out / "trial-0000" / "metrics.json"
    record = json.loads(metrics.read_text())
    del record["data"]["split"]  # as nnclf 0.2 wrote it
    metrics.write_text(json.dumps(record))
    code, _, err = sweep("--resume", out, capsys=capsys)
    assert code == 2 and err == (
        f"nnclf: error: sweep {out}: trial-0000 was split by nnclf 0.2's method "
        "(scikit-learn's), which new trials no longer use, so new trials would be ranked with "
        "old ones trained on other data; start a new sweep (nnclf sweep SWEEP.yaml)\n"
    )


def test_failed_trials_run_again_with_retry_failed_and_plot_says_so(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = write(
        tmp_path,
        "base: base.yaml\ngrid:\n  train.schedule.eta0: [1.0e+6]\n  model.transfer: [relu]\n",
    )
    out = tmp_path / "s"
    assert sweep(path, "--out", out, "--jobs", "1", capsys=capsys)[0] == 0
    assert main(["plot", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"nnclf: error: {out}: no finished trial to plot; 1 failed (see the error column of "
        f"sweep.csv): fix the cause and run them again with nnclf sweep --resume {out} "
        "--retry-failed\n"
    )
    code, _, err = sweep("--resume", out, capsys=capsys)
    assert code == 0 and "1 trials, 1 ended before" in err
    code, _, err = sweep("--resume", out, "--retry-failed", capsys=capsys)
    assert code == 0 and "1 trials, 0 ended before" in err and "trial-0000 failed" in err
    code, _, err = sweep(path, "--retry-failed", capsys=capsys)
    assert code == 2 and "--retry-failed goes with --resume SWEEP_DIR" in err


def test_jobs_are_capped_and_said_so(tmp_path, capsys, monkeypatch):
    from nnclf.sweeps import sweep as sweeps

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    path = write(tmp_path, "base: base.yaml\ngrid: {train.epochs: [1]}\n")
    code, _, err = sweep(path, "--out", tmp_path / "s", "--jobs", "100000", capsys=capsys)
    assert code == 0 and sweeps.max_jobs() == 8
    assert "nnclf: --jobs 100000 is more than 4 per core; running 8 local processes\n" in err


def test_a_failed_trial_names_its_own_directory_not_the_temporary_one(tmp_path, monkeypatch):
    from nnclf.errors import RunError
    from nnclf.sweeps import sweep as sweeps

    def fails(cfg, where, **kw):
        raise RunError(f"{where}: cannot be written (disk full)")

    monkeypatch.setattr(run, "train", fails)
    cfg = read_sweep(write(tmp_path, GRID)).trials[0].config
    result = sweeps.run_trial("trial-0000", cfg, str(tmp_path / "s" / "trial-0000"))
    assert result["error"] == f"{tmp_path / 's' / 'trial-0000'}: cannot be written (disk full)"
