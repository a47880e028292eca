"""nnclf.runs.run: the splits and the model of a config, where a run goes, and train / resume /
open_model on tiny data (iris), checked against counts worked out by hand and against
scikit-learn's own copy of the data; writes that fail at the end (a full disk, no
permission: simulated, since tests may run as root), data that changed under a run, and the
warning for a run that learned nothing. (Claims and staging: test_rundir.py; real processes
and signals: test_faults.py.)"""

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.datasets import load_iris

from nnclf.base import archive, outputs
from nnclf.config.load import config_from_dict
from nnclf.errors import CheckpointError, DataError, RunError
from nnclf.runs import run

IRIS = {
    "seed": 0,
    "data": {"source": "sklearn:iris"},
    "model": {"hidden_units": 3},
    "train": {"epochs": 2},
}


def cfg(**sections):
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in IRIS.items()}
    for name, values in sections.items():
        if isinstance(values, dict):
            raw.setdefault(name, {}).update(values)
        else:
            raw[name] = values
    return config_from_dict(raw)


# ----------------------------------------------------------------------------- splits and model


def test_splits_are_stratified_disjoint_and_cover_the_data():
    s = run.load_splits(cfg())
    # 150 examples: ceil(0.2 * 150) = 30 test, then ceil(0.1 * 120) = 12 validation
    assert (len(s.X_train), len(s.X_val), len(s.X_test)) == (108, 12, 30)
    assert np.unique(s.y_test, return_counts=True)[1].tolist() == [10, 10, 10]
    rows = np.concatenate([s.X_train, s.X_val, s.X_test])
    iris = load_iris().data
    assert np.array_equal(rows[np.lexsort(rows.T)], iris[np.lexsort(iris.T)])
    assert s.feature_names == tuple(load_iris().feature_names) and not s.test_from_source


def test_splits_are_the_same_for_the_same_seed_and_differ_for_another():
    a, b, c = run.load_splits(cfg()), run.load_splits(cfg()), run.load_splits(cfg(seed=1))
    assert np.array_equal(a.X_test, b.X_test) and not np.array_equal(a.X_test, c.X_test)


def test_a_test_set_of_its_own_is_used_as_is(tmp_path):
    X, y = load_iris(return_X_y=True)
    np.savez(tmp_path / "d.npz", X=X[:100], y=y[:100], X_test=X[100:], y_test=y[100:])
    s = run.load_splits(cfg(data={"source": str(tmp_path / "d.npz")}))
    assert s.test_from_source and np.array_equal(s.X_test, X[100:])
    assert len(s.X_train) + len(s.X_val) == 100


def test_the_model_is_standardised_on_the_training_part_only():
    c = cfg()
    s = run.load_splits(c)
    model = run.build_model(c, s)
    assert model.classes.tolist() == [0, 1, 2]
    prepared = model.prepare(s.X_train)
    assert np.allclose(prepared.mean(axis=0), 0) and np.allclose(prepared.std(axis=0), 1)
    assert not np.allclose(model.prepare(s.X_test).mean(axis=0), 0)
    net = model.network
    assert (net.n_features, net.n_hidden, net.n_classes) == (4, 3, 3)
    again = run.build_model(c, s).network.params
    assert all(np.array_equal(net.params[k], again[k]) for k in net.params)


def test_a_test_label_missing_from_training_is_named(tmp_path):
    X, y = load_iris(return_X_y=True)
    np.savez(tmp_path / "d.npz", X=X[:100], y=y[:100], X_test=X[100:], y_test=y[100:])
    c = cfg(data={"source": str(tmp_path / "d.npz")})
    with pytest.raises(
        DataError,
        match=r"^data: label 2 is in the test part of .*d\.npz but "
        r"not in its training part",
    ):
        run.build_model(c, run.load_splits(c))


def test_a_split_error_names_the_config_key():
    with pytest.raises(
        DataError,
        match=r"^data\.test_fraction: 0\.999 of 150 "
        r"examples leaves none for training",
    ):
        run.load_splits(cfg(data={"test_fraction": 0.999}))


# ----------------------------------------------------------------------------- where a run goes


def test_a_free_directory_is_used_as_is(tmp_path):
    (tmp_path / "empty").mkdir()
    assert run.choose_run_dir(str(tmp_path / "new"), explicit=True, force=False) == (
        tmp_path / "new",
        None,
    )
    assert run.choose_run_dir(str(tmp_path / "empty"), explicit=True, force=True) == (
        tmp_path / "empty",
        None,
    )


def test_a_taken_output_dir_moves_on_to_the_next_free_name(tmp_path):
    for name in ("r/model.npz", "r-2/x"):
        (tmp_path / name).parent.mkdir(parents=True)
        (tmp_path / name).write_text("")
    out = str(tmp_path / "r")
    assert run.choose_run_dir(out, explicit=False, force=False) == (
        tmp_path / "r-3",
        f"{out} already exists; writing this run to {tmp_path / 'r-3'} (--force would replace it)",
    )
    assert run.choose_run_dir(out, explicit=False, force=True) == (
        tmp_path / "r",
        f"replacing the run in {out} once this one is complete (--force)",
    )


@pytest.mark.parametrize(
    "files, force, message",
    [
        (
            ["r/model.npz"],
            False,
            "--out {out}: the directory exists and holds an earlier run; "
            "choose another --out, or add --force to replace an earlier run",
        ),
        (["r/notes.txt"], False, "--out {out}: the directory exists and holds other files"),
        (
            ["r/notes.txt"],
            True,
            "--force replaces only nnclf run directories, and '{out}' holds "
            "no config.yaml, model.npz, checkpoint.npz; choose another --out",
        ),
        (["r"], False, "output directory '{out}' is a file; choose another --out"),
    ],
)
def test_an_explicit_out_that_is_taken_is_an_error(files, force, message, tmp_path):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    out = str(tmp_path / "r")
    with pytest.raises(RunError) as e:
        run.choose_run_dir(out, explicit=True, force=force)
    assert str(e.value).startswith(message.format(out=out))


# ----------------------------------------------------------------------------- train, resume, open


def test_an_interrupted_run_resumes_to_the_same_parameters(tmp_path):
    c = cfg()
    half = run.train(c, tmp_path / "a", quiet=True, stop_after=50)
    assert (half.status, half.steps, half.total_steps, half.metrics) == (
        "interrupted",
        50,
        216,
        None,
    )
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["checkpoint.npz", "config.yaml"]
    with pytest.raises(
        RunError,
        match="the run has not finished .no model.npz.; resume it with: nnclf train --resume ",
    ):
        run.open_model(tmp_path / "a")
    done = run.resume(tmp_path / "a", quiet=True)
    straight = run.train(c, tmp_path / "b", quiet=True)
    assert (done.status, done.steps) == ("finished", 216)
    a, _, _ = run.open_model(tmp_path / "a")
    b, path, run_dir = run.open_model(tmp_path / "b" / "model.npz")
    assert (path, run_dir) == (tmp_path / "b" / "model.npz", None)
    assert all(np.array_equal(a.network.params[k], b.network.params[k]) for k in a.network.params)
    assert done.metrics["test"] == straight.metrics["test"]
    with pytest.raises(RunError, match="this run already finished at step 216 .completed."):
        run.resume(tmp_path / "a")


def test_a_checkpoint_that_does_not_fit_the_config_cannot_be_resumed(tmp_path):
    run.train(cfg(), tmp_path / "a", quiet=True, stop_after=10)
    saved = yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())
    saved["model"]["hidden_units"] = 4
    (tmp_path / "a" / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(
        CheckpointError,
        match=r"checkpoint\.npz does not fit config\.yaml "
        r"\(checkpoint: parameter W has shape \(3, 4\)",
    ):
        run.resume(tmp_path / "a")


def test_the_resume_command_quotes_the_directory():
    outcome = run.RunOutcome(Path("my runs/a"), "interrupted", 5, 10, "interrupted", 1.0)
    assert outcome.resume_command == "nnclf train --resume 'my runs/a'"


def test_a_taken_output_dir_moves_on_and_says_so(tmp_path):
    run.train(cfg(), tmp_path / "r", quiet=True, stop_after=1)
    notes = []
    outcome = run.train(
        cfg(), tmp_path / "r", explicit=False, quiet=True, stop_after=1, notify=notes.append
    )
    assert outcome.run_dir == tmp_path / "r-2"
    assert notes == [
        f"{tmp_path / 'r'} already exists; writing this run to {tmp_path / 'r-2'} "
        "(--force would replace it)"
    ]
    saved = yaml.safe_load((tmp_path / "r-2" / "config.yaml").read_text())
    assert saved["output"]["dir"] == str(tmp_path / "r-2")


def test_labels_a_model_file_cannot_hold_are_found_before_training():
    s = run.load_splits(cfg())
    odd = run.Splits(
        s.X_train,
        s.y_train.astype("S1"),
        s.X_val,
        s.y_val.astype("S1"),
        s.X_test,
        s.y_test.astype("S1"),
        s.feature_names,
        "odd.npz",
        False,
    )
    with pytest.raises(
        DataError,
        match=r"^data: the labels of odd\.npz cannot be stored in a "
        r"model file \(metadata\['classes'\]\[0\] has type "
        r"bytes.*; give labels as strings or integers$",
    ):
        run.build_model(cfg(), odd)


def test_a_one_class_training_part_shows_the_label_not_its_numpy_type():
    s = run.load_splits(cfg())
    one = run.Splits(
        s.X_train,
        np.full(len(s.y_train), "versicolor"),
        s.X_val[:0],
        s.y_val[:0].astype(str),
        s.X_test[:0],
        s.y_test[:0].astype(str),
        s.feature_names,
        "one.csv",
        False,
    )
    with pytest.raises(DataError, match=r"has only one class \('versicolor'\); a classifier"):
        run.build_model(cfg(), one)


# ----------------------------------------------------------------------------- failures at the end


def failing_writes(monkeypatch, fails, err=errno.ENOSPC, text="No space left on device"):
    """Every atomic write whose path satisfies ``fails(path)`` fails as a full disk would."""
    real = outputs.atomic_write
    tried = []

    def write(path, write_fn):
        tried.append(Path(path))
        if fails(Path(path)):
            raise OSError(err, text, str(path))
        return real(path, write_fn)

    monkeypatch.setattr(outputs, "atomic_write", write)
    return tried


def files(path):
    return sorted(p.name for p in Path(path).iterdir())


def params_of(run_dir):
    model, _, _ = run.open_model(run_dir)
    return model.network.params


@pytest.mark.parametrize("name", ["model.npz", "history.csv", "metrics.json"])
def test_a_file_that_cannot_be_written_keeps_the_trained_run_and_resume_finishes_it(
    name, tmp_path, monkeypatch
):
    failing_writes(monkeypatch, lambda p: p.name == name)
    with pytest.raises(RunError) as e:
        run.train(cfg(), tmp_path / "a", quiet=True)
    assert str(e.value) == (
        f"cannot write {tmp_path / 'a' / name} (No space left on device); the trained run is "
        f"kept in {tmp_path / 'a'} (config.yaml, checkpoint.npz): make room on the disk, then "
        f"write its files with: nnclf train --resume {tmp_path / 'a'}"
    )
    assert files(tmp_path / "a") == ["checkpoint.npz", "config.yaml"]
    assert files(tmp_path) == ["a"]  # no staging directory, no lock file
    monkeypatch.undo()
    done = run.resume(tmp_path / "a", quiet=True)  # writes the files, trains no further step
    straight = run.train(cfg(), tmp_path / "b", quiet=True)
    assert (done.status, done.steps) == ("finished", 216)
    assert all(
        np.array_equal(params_of(tmp_path / "a")[k], params_of(tmp_path / "b")[k])
        for k in ("W", "b", "V", "gamma")
    )
    assert done.metrics["test"] == straight.metrics["test"]


def test_a_finished_run_whose_checkpoint_alone_fails_is_put_in_place_without_it(
    tmp_path, monkeypatch
):
    failing_writes(monkeypatch, lambda p: p.name == "checkpoint.npz")
    with pytest.raises(
        RunError,
        match=r"cannot write .*a/checkpoint\.npz \(No space left on "
        r"device\); the finished run is in .*a without it \(its "
        r"model\.npz, history\.csv and metrics\.json are "
        r"complete\)$",
    ):
        run.train(cfg(), tmp_path / "a", quiet=True)
    assert files(tmp_path / "a") == ["config.yaml", "history.csv", "metrics.json", "model.npz"]
    run.open_model(tmp_path / "a")


def test_when_the_run_directory_refuses_the_state_goes_to_a_temporary_directory(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    failing_writes(
        monkeypatch,
        lambda p: p.parent.name.startswith(".a.partial-") and p.name != "config.yaml",
        errno.EACCES,
        "Permission denied",
    )
    with pytest.raises(RunError) as e:
        run.train(cfg(), tmp_path / "a", quiet=True, stop_after=30)
    kept = next((tmp_path / "tmp").iterdir())
    assert str(e.value) == (
        f"cannot write {tmp_path / 'a' / 'checkpoint.npz'} (Permission denied); the trained "
        f"run is kept in {kept} (config.yaml, checkpoint.npz): make the run directory writable, "
        f"then continue it with: nnclf train --resume {kept}"
    )
    assert files(tmp_path) == ["tmp"]
    monkeypatch.undo()
    assert run.resume(kept, quiet=True).steps == 216


def test_when_nothing_can_be_written_nothing_is_left_and_the_message_says_so(tmp_path, monkeypatch):
    failing_writes(monkeypatch, lambda p: p.name != "config.yaml")
    monkeypatch.setattr(
        "tempfile.mkdtemp",
        lambda **kw: (_ for _ in ()).throw(
            OSError(errno.ENOSPC, "No space left on device", "/tmp")
        ),
    )
    with pytest.raises(
        RunError,
        match=r"cannot write .*a/checkpoint\.npz \(No space left on "
        r"device\); the trained state could not be saved "
        r"anywhere, so nothing was kept$",
    ):
        run.train(cfg(), tmp_path / "a", quiet=True, stop_after=10)
    assert files(tmp_path) == []


def test_resume_that_cannot_write_keeps_the_earlier_checkpoint(tmp_path, monkeypatch):
    run.train(cfg(), tmp_path / "a", quiet=True, stop_after=50)
    before = (tmp_path / "a" / "checkpoint.npz").read_bytes()
    failing_writes(monkeypatch, lambda p: True)
    monkeypatch.setattr(
        "tempfile.mkdtemp",
        lambda **kw: (_ for _ in ()).throw(
            OSError(errno.ENOSPC, "No space left on device", "/tmp")
        ),
    )
    with pytest.raises(RunError, match="nothing was kept"):
        run.resume(tmp_path / "a", quiet=True, stop_after=20)
    assert (tmp_path / "a" / "checkpoint.npz").read_bytes() == before
    assert files(tmp_path / "a") == ["checkpoint.npz", "config.yaml"]


def test_resume_into_a_directory_it_cannot_write_stops_before_the_first_step(tmp_path, monkeypatch):
    run.train(cfg(), tmp_path / "a", quiet=True, stop_after=50)
    before = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "touch", refuse)
    fitted = []
    monkeypatch.setattr(run.Trainer, "fit", lambda *a, **k: fitted.append(1))
    with pytest.raises(
        RunError,
        match=r"^--resume .*a: cannot write in the run directory "
        r"\(Permission denied\); make it writable, then resume "
        r"again \(nothing was changed\)$",
    ):
        run.resume(tmp_path / "a", quiet=True)
    assert fitted == [] and {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()} == before


def test_a_run_being_resumed_cannot_be_resumed_or_replaced_at_the_same_time(tmp_path):
    run.train(cfg(), tmp_path / "a", quiet=True, stop_after=50)
    from nnclf.runs import rundir

    held = rundir.lock_run(tmp_path / "a", "train --resume", "test")
    try:
        with pytest.raises(
            RunError,
            match=r"^--resume .*a: the run directory is in use by "
            r"another nnclf \(pid \d+ on .*, nnclf train --resume ",
        ):
            run.resume(tmp_path / "a", quiet=True)
        with pytest.raises(RunError, match="is in use by another nnclf"):
            run.train(cfg(), tmp_path / "a", force=True, quiet=True)
    finally:
        held.release()
    assert files(tmp_path / "a") == ["checkpoint.npz", "config.yaml"]


# ----------------------------------------------------------------------------- the data's fingerprint


def iris_csv(tmp_path, rows=slice(None)):
    frame = load_iris(as_frame=True).frame.iloc[rows]
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    return path


def test_the_fingerprint_of_the_data_is_kept_with_the_run(tmp_path):
    c = cfg(data={"source": str(iris_csv(tmp_path))})
    outcome = run.train(c, tmp_path / "a", quiet=True)
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["data"] == outcome.metrics["data"] == run.load_splits(c).fingerprint
    assert metrics["data"]["rows"] == 150


@pytest.mark.parametrize(
    "change, how",
    [
        (
            lambda p: iris_csv(p, slice(None, None, -1)),
            "the same 150 rows, but other values or another order",
        ),
        (lambda p: iris_csv(p, slice(0, 149)), "150 rows then, 149 now"),
        (
            lambda p: p.joinpath("iris.csv").write_text(
                p.joinpath("iris.csv").read_text().replace("5.1,3.5", "5.2,3.5", 1)
            ),
            "the same 150 rows, but other values or another order",
        ),
    ],
)
def test_resume_refuses_data_that_changed_since_the_run_started(change, how, tmp_path):
    c = cfg(data={"source": str(iris_csv(tmp_path))})
    run.train(c, tmp_path / "a", quiet=True, stop_after=50)
    change(tmp_path)
    with pytest.raises(RunError) as e:
        run.resume(tmp_path / "a", quiet=True)
    assert str(e.value) == (
        f"--resume {tmp_path / 'a'}: the data {tmp_path / 'iris.csv'} has "
        f"changed since the run was trained ({how}); a run cannot go on with "
        "other data: start a new one with nnclf train CONFIG"
    )


# ----------------------------------------------------------------------------- learning nothing


def test_a_run_that_learns_nothing_gets_one_warning_with_what_to_try(tmp_path):
    c = cfg(train={"schedule": {"name": "constant", "eta0": 1000.0}}, data={"standardize": False})
    outcome = run.train(c, tmp_path / "a", quiet=True)
    test = outcome.metrics["test"]
    assert test["log_loss"] >= np.log(3)  # the premise: no better than chance
    assert outcome.status == "finished" and outcome.warning == (
        f"this run learned little or nothing: its test log-loss {test['log_loss']:.4f} is no "
        "better than chance (log 3 = 1.0986, the log-loss of p = 1/3 for every class); try a "
        "smaller train.schedule.eta0 (now 1000), data.standardize: true or more train.epochs"
    )


def test_a_run_that_learns_gets_no_warning(tmp_path):
    assert run.train(cfg(), tmp_path / "a", quiet=True).warning is None


def test_a_run_that_cannot_be_moved_into_place_stays_complete_where_it_was_built(
    tmp_path, monkeypatch
):
    real = os.rename

    def refuse(src, dst):
        if ".a.partial-" in str(src):
            raise PermissionError(13, "Permission denied", str(src))
        return real(src, dst)

    monkeypatch.setattr(os, "rename", refuse)
    with pytest.raises(RunError) as e:
        run.train(cfg(), tmp_path / "a", quiet=True)
    staging = next(tmp_path.glob(".a.partial-*"))
    assert str(e.value) == (
        f"cannot move the run into {tmp_path / 'a'} (Permission denied); "
        f"it is complete in {staging}: rename that directory yourself"
    )
    assert files(staging) == [
        "checkpoint.npz",
        "config.yaml",
        "history.csv",
        "metrics.json",
        "model.npz",
    ]
    assert files(tmp_path) == [staging.name]  # and no lock file


@pytest.mark.parametrize(
    "extra",
    ["junk", None, {"status": 3, "seconds": "x", "data": [1], "stopped": {}, "best_step": True}],
)
def test_a_hand_edited_run_record_in_the_checkpoint_falls_back_to_defaults(extra, tmp_path):
    from nnclf.training.trainer import load_checkpoint

    run.train(cfg(), tmp_path / "a", quiet=True, stop_after=50)
    arrays, state = load_checkpoint(tmp_path / "a" / "checkpoint.npz")
    state["extra"] = extra
    archive.write_archive(tmp_path / "a" / "checkpoint.npz", arrays, state, meta_key="state")
    done = run.resume(tmp_path / "a", quiet=True)
    assert (done.status, done.steps) == ("finished", 216)
