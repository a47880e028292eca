"""nnclf.run: the splits and the model of a config, where a run goes, staging, and train /
resume / open_model on tiny data (iris), checked against counts worked out by hand and
against scikit-learn's own copy of the data."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.datasets import load_iris

from nnclf import run
from nnclf.config import config_from_dict
from nnclf.errors import CheckpointError, DataError, RunError

IRIS = {"seed": 0, "data": {"source": "sklearn:iris"}, "model": {"hidden_units": 3},
        "train": {"epochs": 2}}


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
    with pytest.raises(DataError, match=r"^data: label 2 is in the test part of .*d\.npz but "
                                        r"not in its training part"):
        run.build_model(c, run.load_splits(c))


def test_a_split_error_names_the_config_key():
    with pytest.raises(DataError, match=r"^data\.test_fraction: 0\.999 of 150 "
                                        r"examples leaves none for training"):
        run.load_splits(cfg(data={"test_fraction": 0.999}))


# ----------------------------------------------------------------------------- where a run goes


def test_a_free_directory_is_used_as_is(tmp_path):
    (tmp_path / "empty").mkdir()
    assert run.choose_run_dir(str(tmp_path / "new"), explicit=True, force=False) == \
        (tmp_path / "new", None)
    assert run.choose_run_dir(str(tmp_path / "empty"), explicit=True, force=True) == \
        (tmp_path / "empty", None)


def test_a_taken_output_dir_moves_on_to_the_next_free_name(tmp_path):
    for name in ("r/model.npz", "r-2/x"):
        (tmp_path / name).parent.mkdir(parents=True)
        (tmp_path / name).write_text("")
    out = str(tmp_path / "r")
    assert run.choose_run_dir(out, explicit=False, force=False) == (
        tmp_path / "r-3", f"{out} already exists; writing this run to {tmp_path / 'r-3'} "
                          "(--force would replace it)")
    assert run.choose_run_dir(out, explicit=False, force=True) == (
        tmp_path / "r", f"replacing the run in {out} once this one is complete (--force)")


@pytest.mark.parametrize("files, force, message", [
    (["r/model.npz"], False, "--out {out}: the directory exists and holds an earlier run; "
                             "choose another --out, or add --force to replace an earlier run"),
    (["r/notes.txt"], False, "--out {out}: the directory exists and holds other files"),
    (["r/notes.txt"], True, "--force replaces only nnclf run directories, and '{out}' holds "
                            "no config.yaml, model.npz, checkpoint.npz; choose another --out"),
    (["r"], False, "output directory '{out}' is a file; choose another --out"),
])
def test_an_explicit_out_that_is_taken_is_an_error(files, force, message, tmp_path):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    out = str(tmp_path / "r")
    with pytest.raises(RunError) as e:
        run.choose_run_dir(out, explicit=True, force=force)
    assert str(e.value).startswith(message.format(out=out))


def test_staging_that_fails_removes_the_directories_it_created(tmp_path):
    staging = run._Staging(tmp_path / "a" / "b" / "run", replace_existing=False)
    assert staging.path.parent == tmp_path / "a" / "b" and staging.path.name.startswith(".run.")
    staging.discard()
    assert list(tmp_path.iterdir()) == []


def test_staging_publishes_over_an_earlier_run_only_when_asked(tmp_path):
    final = tmp_path / "run"
    final.mkdir()
    (final / "model.npz").write_text("old")
    keep = run._Staging(final, replace_existing=False)
    with pytest.raises(RunError, match="appeared while training; this run is kept in"):
        keep.publish()
    keep.discard()
    staging = run._Staging(final, replace_existing=True)
    (staging.path / "model.npz").write_text("new")
    staging.publish()
    assert (final / "model.npz").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


# ----------------------------------------------------------------------------- train, resume, open


def test_an_interrupted_run_resumes_to_the_same_parameters(tmp_path):
    c = cfg()
    half = run.train(c, tmp_path / "a", quiet=True, stop_after=50)
    assert (half.status, half.steps, half.total_steps, half.metrics) == ("interrupted", 50, 216,
                                                                         None)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["checkpoint.npz", "config.yaml"]
    with pytest.raises(RunError, match="the run has not finished .no model.npz.; resume it "
                                       "with: nnclf train --resume "):
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
    with pytest.raises(CheckpointError, match=r"checkpoint\.npz does not fit config\.yaml "
                                              r"\(checkpoint: parameter W has shape \(3, 4\)"):
        run.resume(tmp_path / "a")


def test_the_resume_command_quotes_the_directory():
    outcome = run.RunOutcome(Path("my runs/a"), "interrupted", 5, 10, "interrupted", 1.0)
    assert outcome.resume_command == "nnclf train --resume 'my runs/a'"
