"""A sweep's ``search:`` block: Optuna's TPE sampler, pruning, the study's database, resume.

Independent references: the study as Optuna itself reads it back (``optuna.load_study``)
against sweep.csv and each trial's history.csv; a second run of the same seeded search; a
random sweep without a ``search`` block against the same one with ``method: random``.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest

from nnclf.cli import main
from nnclf.sweeps.sweepfile import OPTUNA_EXTRA

ROOT = Path(__file__).resolve().parent.parent
IRIS = ROOT / "data" / "iris.csv"
BASE = f"""\
seed: 0
data: {{source: {IRIS}, target: species}}
model: {{hidden_units: 4}}
train: {{epochs: 3, eval_every: 20, momentum: 0.5, nesterov: true}}
"""
TPE = """\
base: base.yaml
search: {method: tpe, trials: 10, pruner: median, seed: 4}
grid:
  model.transfer: [tanh, relu]
random:
  train.schedule.eta0: {log_uniform: [0.0001, 0.3]}
  model.hidden_units: {choice: [2, [4, 3]]}
  train.momentum: {choice: [0.0, 0.5, 0.9]}  # 0 with nesterov: a trial the config refuses
metric: val_log_loss
"""


def write(tmp_path: Path, sweep: str) -> Path:
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "sweep.yaml").write_text(sweep)
    return tmp_path / "sweep.yaml"


def sweep(*args, capsys=None):
    code = main(["sweep", *map(str, args)])
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return code, out, err


def rows(sweep_dir: Path, name: str = "sweep.csv") -> list[dict]:
    with open(sweep_dir / name, newline="") as f:
        return list(csv.DictReader(f))


def study_of(sweep_dir: Path):
    optuna = pytest.importorskip("optuna")
    name = json.loads((sweep_dir / "trials.json").read_text())["search"]["study_name"]
    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep_dir / 'study.db'}")


def without_seconds(sweep_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows(sweep_dir)]


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """The 10-trial tpe search with median pruning, in one process."""
    pytest.importorskip("optuna")
    tmp = tmp_path_factory.mktemp("tpe")
    code = main(["sweep", str(write(tmp, TPE)), "--jobs", "1", "--out", str(tmp / "s"), "--quiet"])
    assert code == 0
    return tmp / "s"


def test_the_study_holds_every_trial_as_sweep_csv_does(searched):
    study, table = study_of(searched), rows(searched)
    trials = {t.number: t for t in study.trials}
    assert sorted(trials) == list(range(10)) and len(table) == 10
    states = {"finished": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL"}
    for row in table:
        t = trials[int(row["trial"].removeprefix("trial-"))]
        assert t.state.name == states[row["status"]]
        assert t.params["model.transfer"] == row["model.transfer"]
        assert t.params["train.schedule.eta0"] == float(row["train.schedule.eta0"])
        # A list choice is held by Optuna as its JSON text, as sweep.csv writes it.
        assert t.params["model.hidden_units"] == (
            json.loads(row["model.hidden_units"])
            if not row["model.hidden_units"].startswith("[")
            else row["model.hidden_units"]
        )
        if row["status"] == "failed":
            assert row["error"].endswith("train.nesterov needs momentum > 0")
            assert t.user_attrs["error"] == row["error"] and float(row["train.momentum"]) == 0
            assert not (searched / row["trial"]).exists()
            continue
        history = rows(searched / row["trial"], "history.csv")
        assert sorted(t.intermediate_values.items()) == [
            (int(h["step"]), float(h["val_loss"])) for h in history
        ]
        if row["status"] == "finished":
            assert t.value == float(row["val_log_loss"])
        if row["status"] == "pruned":  # its values are those of its last evaluation
            assert t.value == t.intermediate_values[t.last_step]
            assert t.value == float(history[-1]["val_loss"])
            # sweep.csv's metrics are the model's where it stopped (the same log-loss,
            # computed by the metrics module rather than the trainer).
            assert float(row["val_log_loss"]) == pytest.approx(t.value, rel=1e-12)
            assert int(row["steps"]) == int(history[-1]["step"]) < 3 * 105
    assert {r["status"] for r in table} == {"finished", "pruned", "failed"}


def test_the_config_of_each_trial_is_its_proposal(searched):
    from nnclf.config.load import load_config

    study = study_of(searched)
    for t in study.trials:
        if t.state.name == "FAIL":
            continue
        cfg = load_config(searched / f"trial-{t.number:04d}" / "config.yaml")
        assert cfg.train.schedule["eta0"] == t.params["train.schedule.eta0"]
        assert cfg.model.transfer == t.params["model.transfer"]
        units = t.params["model.hidden_units"]
        assert cfg.model.hidden_units == (json.loads(units) if isinstance(units, str) else units)


def test_the_summary_names_optuna_dashboard(searched, capsys):
    from nnclf.sweeps import sweep as sweeps

    plan, table = sweeps.load(searched)
    text = sweeps.summary(searched, plan, table)
    assert f"optuna-dashboard sqlite:///{searched.resolve()}/study.db" in text
    pruned = sum(r["status"] == "pruned" for r in table.values())
    assert text.splitlines()[0].endswith(f"failed, {pruned} pruned")


def test_the_same_seed_proposes_the_same_trials(searched, tmp_path):
    code, _, _ = sweep(write(tmp_path, TPE), "--jobs", "1", "--out", tmp_path / "s", "--quiet")
    assert code == 0
    assert without_seconds(tmp_path / "s") == without_seconds(searched)
    again = [(t.params, t.state, t.value) for t in study_of(tmp_path / "s").trials]
    assert again == [(t.params, t.state, t.value) for t in study_of(searched).trials]


def test_resume_continues_the_same_study(searched, tmp_path, capsys):
    out = tmp_path / "s"
    code, _, _ = sweep(write(tmp_path, TPE), "--jobs", "1", "--out", out, "--stop-after-trials", 3)
    assert code == 130
    assert len(study_of(out).trials) == 3
    # A driver killed while trial 3 ran leaves it RUNNING in the study.
    from nnclf.sweeps.search import distributions

    study = study_of(out)
    space = json.loads((out / "trials.json").read_text())["search"]["space"]
    killed = study.ask(distributions(space))
    assert killed.number == 3
    code, _, _ = sweep("--resume", out, "--jobs", "1", capsys=capsys)
    assert code == 0
    trials = study_of(out).trials
    assert [t.number for t in trials] == list(range(11))
    assert trials[3].state.name == "FAIL" and trials[3].user_attrs == {"interrupted": True}
    retried = [t for t in trials if t.user_attrs.get("retry_of") == 3]
    assert len(retried) == 1 and retried[0].params == trials[3].params
    assert [r["trial"] for r in rows(out)] == [f"trial-{n:04d}" for n in (0, 1, 2, *range(4, 11))]
    # The first three trials are those of the uninterrupted search, not run again.
    assert without_seconds(out)[:3] == without_seconds(searched)[:3]


def test_method_random_is_todays_random_sweep(tmp_path):
    today = "base: base.yaml\nrandom:\n  n: 3\n  train.schedule.eta0: {log_uniform: [0.001, 0.3]}\n"
    named = today.replace("base.yaml\n", "base.yaml\nsearch: {method: random}\n")
    counted = named.replace("  n: 3\n", "").replace("random}", "random, trials: 3}")
    results = []
    for k, text in enumerate((today, named, counted)):
        (tmp_path / str(k)).mkdir()
        code, _, _ = sweep(
            write(tmp_path / str(k), text), "--jobs", "1", "--out", tmp_path / f"s{k}", "--quiet"
        )
        assert code == 0
        plan = json.loads((tmp_path / f"s{k}" / "trials.json").read_text())
        results.append((without_seconds(tmp_path / f"s{k}"), plan["trials"]))
        assert not (tmp_path / f"s{k}" / "study.db").exists()
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize(
    "block, message",
    [
        (
            "{metod: tpe}",
            "search.metod: unknown key; did you mean search.method?",
        ),
        (
            "{method: bayes}",
            "search.method: unknown search method 'bayes'; choose one of random, tpe",
        ),
        ("{method: tpe, trials: 0}", "search.trials must be an integer >= 1 or null, got 0"),
        (
            "{pruner: median}",
            "search.pruner median needs method tpe; method random runs every trial to its "
            "end (set method: tpe, or drop pruner)",
        ),
        (
            "{method: tpe, trials: 4, storage: 'not a url'}",
            "search.storage: 'not a url' is not a database URL; give one like "
            "sqlite:///study.db or postgresql://user@host/db",
        ),
    ],
)
def test_a_bad_search_block_is_one_line(block, message, tmp_path, capsys):
    pytest.importorskip("optuna")
    text = TPE.replace(
        "search: {method: tpe, trials: 10, pruner: median, seed: 4}", f"search: {block}"
    )
    code, out, err = sweep(write(tmp_path, text), "--out", tmp_path / "s", capsys=capsys)
    assert code == 2 and out == ""
    assert err == f"nnclf: error: {tmp_path / 'sweep.yaml'}: {message}\n"
    assert not (tmp_path / "s").exists()


def test_a_pruner_needs_a_metric_measured_at_every_evaluation(tmp_path, capsys):
    pytest.importorskip("optuna")
    code, _, err = sweep(
        write(tmp_path, TPE.replace("val_log_loss", "val_macro_f1")), capsys=capsys
    )
    assert code == 2 and err.endswith(
        "search.pruner: median follows the metric at every evaluation, which only "
        "val_log_loss and val_accuracy are; choose one of them as metric, or pruner: none\n"
    )


def test_tpe_without_optuna_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    code, out, err = sweep(write(tmp_path, TPE), "--out", tmp_path / "s", capsys=capsys)
    assert code == 2 and out == ""
    assert err == f"nnclf: error: {tmp_path / 'sweep.yaml'}: {OPTUNA_EXTRA}\n"
    assert OPTUNA_EXTRA.endswith('pip install "nnclf[optuna]"')
    assert not (tmp_path / "s").exists()


def test_distributions_are_optunas_own(tmp_path):
    optuna = pytest.importorskip("optuna")
    from nnclf.sweeps.search import distributions

    got = distributions(
        {
            "a": ["uniform", [0, 1]],
            "b": ["log_uniform", [0.001, 1]],
            "c": ["int_uniform", [1, 9]],
            "d": ["int_log_uniform", [1, 64]],
            "e": ["choice", ["x", [1, 2], None]],
        }
    )
    d = optuna.distributions
    assert got == {
        "a": d.FloatDistribution(0.0, 1.0),
        "b": d.FloatDistribution(0.001, 1.0, log=True),
        "c": d.IntDistribution(1, 9),
        "d": d.IntDistribution(1, 64, log=True),
        "e": d.CategoricalDistribution(["x", "[1, 2]", None]),
    }
    assert not math.isnan(got["a"].high)


def ended_trials(sweep_dir: Path) -> dict:
    return {t.number: t.state.name for t in study_of(sweep_dir).trials}


@pytest.mark.slow
def test_hyperband_in_local_processes(tmp_path):
    pytest.importorskip("optuna")
    text = TPE.replace("pruner: median, seed: 4", "pruner: hyperband, seed: 4")
    code, _, _ = sweep(write(tmp_path, text), "--jobs", "2", "--out", tmp_path / "s", "--quiet")
    assert code == 0
    table = {r["trial"]: r["status"] for r in rows(tmp_path / "s")}
    states = {"finished": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL"}
    assert ended_trials(tmp_path / "s") == {
        int(name.removeprefix("trial-")): states[status] for name, status in table.items()
    }
    assert len(table) == 10
    # The search's processes are its own: a random sweep in the same process still runs
    # in joblib's.
    random = "base: base.yaml\nrandom:\n  n: 2\n  train.schedule.eta0: {uniform: [0.01, 0.1]}\n"
    code, _, _ = sweep(write(tmp_path, random), "--jobs", "2", "--out", tmp_path / "r", "--quiet")
    assert code == 0 and len(rows(tmp_path / "r")) == 2


@pytest.mark.slow
def test_a_search_on_a_dask_cluster_keeps_the_study_on_the_driver(tmp_path):
    pytest.importorskip("optuna")
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "s"
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
        distributed.get_task_stream(client) as tasks,
    ):
        code, _, _ = sweep(
            write(tmp_path, TPE), "--out", out, "--scheduler", cluster.scheduler_address, "--quiet"
        )
    assert code == 0
    table = rows(out)
    ran = [r for r in table if r["status"] != "failed" or not r["error"].startswith("random.")]
    assert len(tasks.data) == len(ran)  # each trial the config takes, on a worker
    assert len(ended_trials(out)) == 10 and (out / "study.db").is_file()


def test_the_benchmark_script_runs_tiny(capsys):
    pytest.importorskip("optuna")
    import runpy

    bench = runpy.run_path(str(ROOT / "scripts" / "search_benchmark.py"))
    bench["main"](["--quick", "--data", "penguins"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "penguins, 3 trials per sweep, 2 epochs per trial"
    assert (
        lines[2].split()
        == "seed random best random steps tpe best tpe steps pruned tpe steps to random's best".split()
    )
    assert lines[3].split()[0] == "0" and lines[4].startswith("mean")
    assert lines[5].startswith("tpe/random: best log-loss ")
    # Three random trials of 2 epochs each on one training split; tpe's can only be pruned.
    random_steps, tpe_steps = int(lines[3].split()[2]), int(lines[3].split()[4])
    assert random_steps % 6 == 0 and 0 < tpe_steps <= random_steps


def test_resuming_a_search_without_optuna_is_one_line(searched, tmp_path, capsys, monkeypatch):
    import shutil

    shutil.copytree(searched, tmp_path / "s")
    before = sorted(p.name for p in (tmp_path / "s").iterdir())
    monkeypatch.setitem(sys.modules, "optuna", None)
    code, _, err = sweep("--resume", tmp_path / "s", "--jobs", "1", capsys=capsys)
    assert code == 2 and err.splitlines()[-1] == f"nnclf: error: {OPTUNA_EXTRA}"
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == before


@pytest.mark.slow
def test_trials_running_when_the_search_stops_run_again_on_resume(tmp_path, capsys):
    pytest.importorskip("optuna")
    out = tmp_path / "s"
    code, _, _ = sweep(write(tmp_path, TPE), "--jobs", "2", "--out", out, "--stop-after-trials", 1)
    assert code == 130
    trials = study_of(out).trials
    caught = [t.number for t in trials if t.user_attrs.get("interrupted")]
    assert caught and all(t.state.name != "RUNNING" for t in trials)
    code, out_text, _ = sweep("--resume", out, "--jobs", "2", capsys=capsys)
    assert code == 0 and "10 trials" in out_text.splitlines()[0]
    trials = study_of(out).trials
    for number in caught:  # each caught trial ran again once, with its parameters
        again = [t for t in trials if t.user_attrs.get("retry_of") == number]
        assert len(again) == 1 and again[0].params == trials[number].params
        assert again[0].state.name in ("COMPLETE", "PRUNED", "FAIL")
    ended = [t for t in trials if not t.user_attrs.get("interrupted")]
    assert len(ended) == 10 and len(rows(out)) >= 10
