"""Tests of folder sources (nnclf.data.npyfolder): a folder of .npy files trains, splits, evaluates
and predicts as the same arrays in memory do (compared against an .npz of the same arrays,
and against plain numpy written here), its errors, its fingerprint, and, in a subprocess, a
run's private memory far below the size of its X.npy."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nnclf.cli import main
from nnclf.config.load import config_from_dict
from nnclf.config.settings import SGDSettings
from nnclf.data import npyfolder
from nnclf.data.fingerprints import fingerprint
from nnclf.data.npyfolder import Rows
from nnclf.data.sources import load_dataset, load_features
from nnclf.errors import DataError
from nnclf.export.trained import TrainedModel
from nnclf.graph.network import Network
from nnclf.runs import run
from nnclf.runs.metrics import evaluate
from nnclf.training.trainer import Trainer


def arrays(n=240, d=5, classes=3, seed=0, dtype=np.float64):
    """Features on different scales (so standardising matters) and learnable labels."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, d)) * np.arange(1, d + 1) + 10 * np.arange(d)).astype(dtype)
    y = np.argmax(
        X[:, :classes] - 10 * np.arange(classes) + rng.standard_normal((n, classes)), axis=1
    )
    return X, y


def write_folder(path, X, y, **more):
    path.mkdir(parents=True, exist_ok=True)
    np.save(path / "X.npy", X)
    np.save(path / "y.npy", y)
    for name, a in more.items():
        np.save(path / f"{name}.npy", a)
    return path


def cfg_of(source, engine="numpy", **train):
    return config_from_dict(
        {
            "seed": 3,
            "data": {"source": str(source), "test_fraction": 0.2, "validation_fraction": 0.2},
            "model": {"hidden_units": 6},
            "train": {
                "epochs": 2,
                "engine": engine,
                "schedule": {"name": "constant", "eta0": 0.05},
                **train,
            },
        }
    )


def trained(tmp_path, source, name, engine="numpy", **train):
    outcome = run.train(cfg_of(source, engine, **train), tmp_path / name, quiet=True)
    return outcome, TrainedModel.load(outcome.run_dir / "model.npz")


def assert_same_params(a: TrainedModel, b: TrainedModel):
    for k, v in a.network.params.items():
        assert np.array_equal(v, b.network.params[k]), k


# ----------------------------------------------------------------------------- the same run


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_a_folder_trains_exactly_as_the_same_arrays_in_memory(tmp_path, engine):
    X, y = arrays()
    folder = write_folder(tmp_path / "data", X, y)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    a, from_folder = trained(tmp_path, folder, "a", engine, eval_every=40)
    b, from_npz = trained(tmp_path, tmp_path / "data.npz", "b", engine, eval_every=40)
    # One chunk of statistics: the very mean and scale, hence the very parameters.
    assert np.array_equal(from_folder.standardizer.mean_, from_npz.standardizer.mean_)
    assert np.array_equal(from_folder.standardizer.scale_, from_npz.standardizer.scale_)
    assert_same_params(from_folder, from_npz)
    # Validation during training and the metrics at the end, chunked, give the same figures.
    for part in ("train", "validation", "test"):
        fa, fb = dict(a.metrics[part]), dict(b.metrics[part])
        assert fa.pop("log_loss") == pytest.approx(fb.pop("log_loss"), rel=1e-12)
        assert fa == fb
    history = [(tmp_path / r / "history.csv").read_text() for r in ("a", "b")]
    assert history[0] == history[1]


def test_float32_and_integer_files_and_a_float32_network(tmp_path):
    X, y = arrays(dtype=np.float32)
    for kind, data in (("f32", X), ("int", np.round(X).astype(np.int16))):
        folder = write_folder(tmp_path / kind, data, y.astype(str))
        np.savez(tmp_path / f"{kind}.npz", X=data, y=y.astype(str))
        for dtype in ("float64", "float32"):
            models = []
            for source in (folder, tmp_path / f"{kind}.npz"):
                cfg = cfg_of(source)
                cfg = config_from_dict(
                    {**_as_dict(cfg), "model": {"hidden_units": 6, "dtype": dtype}}
                )
                models.append(
                    TrainedModel.load(
                        run.train(
                            cfg, tmp_path / f"{kind}-{dtype}-{len(models)}", quiet=True
                        ).run_dir
                        / "model.npz"
                    )
                )
            assert_same_params(*models)


def _as_dict(cfg):
    from nnclf.config.load import config_to_dict

    d = config_to_dict(cfg)
    d.pop("output")
    return d


def test_the_folders_own_test_set(tmp_path):
    X, y = arrays(300)
    folder = write_folder(tmp_path / "data", X[:200], y[:200], X_test=X[200:], y_test=y[200:])
    np.savez(tmp_path / "data.npz", X=X[:200], y=y[:200], X_test=X[200:], y_test=y[200:])
    a, from_folder = trained(tmp_path, folder, "a")
    b, from_npz = trained(tmp_path, tmp_path / "data.npz", "b")
    assert_same_params(from_folder, from_npz)
    assert a.metrics["test"]["n_samples"] == 100
    assert a.metrics["test"]["accuracy"] == b.metrics["test"]["accuracy"]


def test_statistics_over_many_chunks_agree_to_rounding(tmp_path, monkeypatch):
    X, y = arrays(500)
    X[:, 1] += 1e6  # a large offset: naive sums of squares would lose the variance
    folder = write_folder(tmp_path / "data", X, y)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    monkeypatch.setattr(npyfolder, "CHUNK_BYTES", 7 * 8 * X.shape[1])  # chunks of 7 rows
    mean, scale = npyfolder.mean_and_scale(Rows(np.load(folder / "X.npy", mmap_mode="r")))
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(scale, X.std(axis=0), rtol=1e-9)
    _, from_folder = trained(tmp_path, folder, "a")
    _, from_npz = trained(tmp_path, tmp_path / "data.npz", "b")
    for k, v in from_folder.network.params.items():
        np.testing.assert_allclose(v, from_npz.network.params[k], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_trainer_on_rows_is_the_trainer_on_their_standardised_copy(engine):
    """Rows of a permuted index, standardised as read, against plain numpy's copy of them."""
    X, y = arrays(150, d=4)
    X.flags.writeable = False  # as a memory-mapped X.npy is read (and compiled for)
    index = np.random.default_rng(1).permutation(150)[:100]
    mean, scale = X.mean(axis=0) + 0.5, X.std(axis=0) * 2
    copy = (X[index] - mean) / scale
    # The step of the test above (plain SGD on standardised rows): one compile for both.
    settings = SGDSettings(epochs=3, engine=engine, batch_size=1)
    nets = [Network(4, 5, 3, seed=0), Network(4, 5, 3, seed=0)]
    Trainer(nets[0], settings, seed=2, progress="none").fit(copy, y[index])
    Trainer(nets[1], settings, seed=2, progress="none").fit(Rows(X, index, mean, scale), y[index])
    for k in nets[0].params:
        assert np.array_equal(nets[0].params[k], nets[1].params[k]), k


def test_rows_gather_standardised_rows_and_split_row_numbers():
    X, y = arrays(60, d=3)
    rows = Rows(X, np.arange(60)[::-1], mean=np.ones(3), scale=np.full(3, 2.0))
    np.testing.assert_array_equal(rows[0], (X[59] - 1) / 2)
    np.testing.assert_array_equal(rows[[1, 2]], (X[[58, 57]] - 1) / 2)
    np.testing.assert_array_equal(np.asarray(rows), (X[::-1] - 1) / 2)
    blocks = list(rows.chunks(25))
    assert [s for s, _ in blocks] == [0, 25, 50] and sum(len(b) for _, b in blocks) == 60
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), (X[::-1] - 1) / 2)
    assert rows.take([3, 0]).index.tolist() == [56, 59]
    assert Rows(X, dtype=np.float32)[0].dtype == np.float32


def test_the_trainer_checks_rows_without_reading_them():
    X, y = arrays(50, d=4)
    with pytest.raises(DataError, match=r"x has shape \(1, 4\); expected \(3,\)"):
        Trainer(Network(3, 4, 3), SGDSettings(epochs=1), progress="none").fit(Rows(X), y)
    with pytest.raises(DataError, match="y holds class indices outside 0..1"):
        Trainer(Network(4, 4, 2), SGDSettings(epochs=1), progress="none").fit(Rows(X), y)


def test_splits_hold_views_of_the_memory_map(tmp_path):
    X, y = arrays()
    folder = write_folder(tmp_path / "data", X, y)
    splits = run.load_splits(cfg_of(folder))
    for part in (splits.X_train, splits.X_val, splits.X_test):
        assert isinstance(part, Rows)
        assert isinstance(part.array.base, np.memmap) or isinstance(part.array, np.memmap)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    memory = run.load_splits(cfg_of(tmp_path / "d.npz"))
    for a, b in ((splits.X_train, memory.X_train), (splits.X_test, memory.X_test)):
        np.testing.assert_array_equal(np.asarray(a), b)
    np.testing.assert_array_equal(splits.y_val, memory.y_val)


def test_chunked_evaluation_equals_evaluation_in_memory(tmp_path, monkeypatch):
    X, y = arrays(300)
    folder = write_folder(tmp_path / "data", X, y)
    _, model = trained(tmp_path, folder, "a")
    monkeypatch.setattr(npyfolder, "CHUNK_BYTES", 13 * 8 * X.shape[1])
    chunked, whole = evaluate(model, Rows(X), y), evaluate(model, X, y)
    assert chunked.pop("log_loss") == pytest.approx(whole.pop("log_loss"), rel=1e-12)
    assert chunked == whole
    proba = model.predict_proba(X)
    expected = -np.mean(np.log(np.clip(proba[np.arange(len(y)), model.encode(y)], 1e-300, 1)))
    assert evaluate(model, Rows(X), y)["log_loss"] == pytest.approx(expected, rel=1e-10)


# ----------------------------------------------------------------------------- the commands


def test_resume_evaluate_and_predict_on_a_folder(tmp_path, capsys):
    X, y = arrays(200)
    folder = write_folder(tmp_path / "data", X, y.astype(str))
    cfg = cfg_of(folder)
    whole = run.train(cfg, tmp_path / "whole", quiet=True)
    cut = run.train(cfg, tmp_path / "cut", quiet=True, stop_after=50)
    assert cut.status == "interrupted"
    assert run.resume(tmp_path / "cut", quiet=True).status == "finished"
    assert_same_params(
        TrainedModel.load(tmp_path / "whole" / "model.npz"),
        TrainedModel.load(tmp_path / "cut" / "model.npz"),
    )
    assert main(["evaluate", str(tmp_path / "whole"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["n_samples"] == whole.metrics["test"]["n_samples"] == 40
    assert scores["accuracy"] == whole.metrics["test"]["accuracy"]
    assert main(["evaluate", str(tmp_path / "whole"), "--data", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_samples"] == 200
    out = tmp_path / "p.csv"
    assert main(["predict", str(tmp_path / "whole"), "--data", str(folder), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    model = TrainedModel.load(tmp_path / "whole" / "model.npz")
    assert len(lines) == 201 and lines[0] == "label,p_0,p_1,p_2"
    assert [r.split(",")[0] for r in lines[1:]] == model.predict(X).tolist()


def test_a_changed_folder_stops_a_resume(tmp_path):
    X, y = arrays(200)
    folder = write_folder(tmp_path / "data", X, y)
    run.train(cfg_of(folder), tmp_path / "cut", quiet=True, stop_after=20)
    X[5, 2] += 1
    np.save(folder / "X.npy", X)
    with pytest.raises(Exception, match="has changed since the run was trained"):
        run.resume(tmp_path / "cut", quiet=True)


def test_fingerprint_of_a_large_file_samples_it(tmp_path, monkeypatch):
    X, y = arrays(4000, d=50)
    folder = write_folder(tmp_path / "data", X, y)
    first = fingerprint(load_dataset(str(folder)))
    assert first == fingerprint(load_dataset(str(folder)))
    assert first["rows"] == 4000 and first["source"] == str(folder)
    monkeypatch.setattr(npyfolder, "WHOLE_HASH_BYTES", 100_000)  # X (1.6 MB) is now sampled
    monkeypatch.setattr(npyfolder, "_BLOCK", 4096)
    sampled = fingerprint(load_dataset(str(folder)))
    assert sampled != first and sampled == fingerprint(load_dataset(str(folder)))
    stat = os.stat(folder / "X.npy")
    with open(folder / "X.npy", "r+b") as f:  # a byte in the first block: sampled
        f.seek(200)
        f.write(b"\x01")
    os.utime(folder / "X.npy", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint(load_dataset(str(folder))) != sampled
    os.utime(folder / "X.npy", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched = fingerprint(load_dataset(str(folder)))
    assert touched != sampled


BAD_FOLDERS = {
    "no y.npy": (
        {"X": np.ones((4, 2))},
        "has no y.npy; a folder source holds X.npy (n, d) and y.npy (n,)",
    ),
    "no X.npy": ({"y": np.arange(4)}, "has no X.npy"),
    "rows differ": ({"X": np.ones((4, 2)), "y": np.arange(3)}, "has 4 rows in X but 3 labels in y"),
    "X 1-D": ({"X": np.ones(4), "y": np.arange(4)}, "X.npy must be 2-D"),
    "X text": (
        {"X": np.array([["a", "b"]] * 4), "y": np.arange(4)},
        "X.npy must hold float32, float64 or integers, got dtype <U1",
    ),
    "y 2-D": ({"X": np.ones((4, 2)), "y": np.ones((4, 1))}, "y must be 1-D"),
    "objects": (
        {"X": np.ones((4, 2)), "y": np.array([{}, 1, 2, 3], dtype=object)},
        "y.npy holds Python objects (dtype object), which nnclf never unpickles",
    ),
    "X_test alone": (
        {"X": np.ones((4, 2)), "y": np.arange(4), "X_test": np.ones((2, 2))},
        "has X_test.npy but no y_test.npy; give both or neither",
    ),
    "X_test narrower": (
        {
            "X": np.ones((4, 2)),
            "y": np.arange(4),
            "X_test": np.ones((2, 3)),
            "y_test": np.arange(2),
        },
        "X_test.npy has 3 columns but X.npy has 2",
    ),
    "not finite": (
        {"X": np.array([[1.0, 2], [3, np.nan], [0, 0], [1, 1]]), "y": np.arange(4)},
        "X.npy has a non-finite value (nan) at row 1, column 1",
    ),
    "Fortran": (
        {"X": np.asfortranarray(np.ones((4, 2))), "y": np.arange(4)},
        "X.npy is stored in Fortran order",
    ),
}


@pytest.mark.parametrize("case", BAD_FOLDERS)
def test_bad_folders_are_one_line_errors(tmp_path, capsys, case):
    files, message = BAD_FOLDERS[case]
    folder = tmp_path / "bad"
    folder.mkdir()
    for name, a in files.items():
        np.save(folder / f"{name}.npy", a, allow_pickle=a.dtype == object)
    with pytest.raises(
        DataError, match="source: folder .*" + message.replace("(", r"\(").replace(")", r"\)")
    ):
        load_dataset(str(folder))
    (tmp_path / "c.yaml").write_text(f"data: {{source: {folder}}}\n")
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nnclf: error: data.source: folder ")
    assert message.split(";")[0] in err[0]
    assert not (tmp_path / "run").exists()


def test_predict_data_from_a_folder_without_labels(tmp_path):
    X, _ = arrays(30)
    folder = tmp_path / "new"
    folder.mkdir()
    np.save(folder / "X.npy", X)
    rows, y, names = load_features(str(folder), feature_names=("a", "b", "c", "d", "e"))
    assert isinstance(rows, Rows) and y is None and names == ("x0", "x1", "x2", "x3", "x4")
    with pytest.raises(DataError, match="has 5 features but the model expects 3"):
        load_features(str(folder), feature_names=("a", "b", "c"))


# ----------------------------------------------------------------------------- memory


MEASURE = textwrap.dedent("""
    import json, sys, threading, time
    def rss_anon():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("RssAnon:"))
    peak = [0]
    def sample():
        while True:
            peak[0] = max(peak[0], rss_anon())
            time.sleep(0.002)
    import sklearn.metrics, nnclf.runs.run, nnclf.config.load, nnclf.runs.report  # imports are not data
    start = rss_anon()
    threading.Thread(target=sample, daemon=True).start()
    cfg = nnclf.config.load.config_from_dict(json.loads(sys.argv[1]))
    outcome = nnclf.runs.run.train(cfg, sys.argv[2], quiet=True)
    print(json.dumps({"growth": max(peak[0], rss_anon()) - start, "status": outcome.status}))
""")


@pytest.mark.slow
def test_private_memory_stays_far_below_the_size_of_x(tmp_path):
    """A run on a 320 MB X.npy (float32) grows its private memory by far less than that."""
    n, d = 400_000, 200
    folder = tmp_path / "big"
    folder.mkdir()
    X = np.lib.format.open_memmap(folder / "X.npy", mode="w+", dtype=np.float32, shape=(n, d))
    rng = np.random.default_rng(0)
    for s in range(0, n, 50_000):
        X[s : s + 50_000] = rng.standard_normal((50_000, d))
    y = (X[:, 0] > 0).astype(np.int8)
    X.flush()
    del X
    np.save(folder / "y.npy", y)
    size = os.path.getsize(folder / "X.npy")
    cfg = {
        "seed": 0,
        "data": {"source": str(folder), "test_fraction": 0.1, "validation_fraction": 0.1},
        "model": {"hidden_units": 8},
        "train": {"steps": 20_000, "eval_every": 10_000, "engine": "numpy"},
    }
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(cfg), str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "finished"
    # The in-memory route holds a float64 copy: twice the file. Here: chunks, labels, indices.
    assert result["growth"] < size / 4, (result["growth"] / 2**20, size / 2**20)


@pytest.mark.slow
def test_the_benchmark_script_runs_small_and_cleans_up(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "bigdata_benchmark.py"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "--gigabytes",
            "0.002",
            "--steps",
            "300",
            "--rounds",
            "1",
            "--engines",
            "numpy",
            "--dir",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["features"] == 784 and info["rows"] == int(0.002 * 2**30) // (4 * 784)
    (row,) = info["results"]
    assert row["engine"] == "numpy" and row["ratio"] > 0 and row["folder_rss_anon_peak_mb"] > 0
    assert list(tmp_path.iterdir()) == []  # the folder it wrote is gone


def test_a_relative_folder_is_found_beside_the_config_and_recorded_absolute(tmp_path, monkeypatch):
    X, y = arrays(n=60)
    write_folder(tmp_path / "project" / "folder", X, y)
    (tmp_path / "project" / "c.yaml").write_text(
        "data: {source: folder}\nmodel: {hidden_units: 3}\ntrain: {epochs: 1}\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    from nnclf.config.load import load_config

    cfg = load_config(tmp_path / "project" / "c.yaml")
    assert cfg.data.source == os.path.realpath(tmp_path / "project" / "folder")
    assert main(["train", str(tmp_path / "project" / "c.yaml"), "--out", "r", "--quiet"]) == 0
    assert main(["evaluate", "r"]) == 0  # from the recorded absolute path
