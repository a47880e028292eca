"""Tests for nnclf.export.modelfile: round trips, atomic writes, and one clear error per bad file."""

import json
import os
import pickle

import numpy as np
import pytest

import nnclf
from nnclf.export.modelfile import (
    FORMAT_VERSION,
    ModelFileError,
    atomic_write,
    atomic_write_text,
    load_model,
    save_model,
)


def make_params(m=5, d=3, K=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "W": rng.normal(size=(m, d)),
        "b": rng.normal(size=m),
        "V": rng.normal(size=(K, m)),
        "gamma": rng.normal(size=K),
    }


def make_metadata(classes=("setosa", "versicolor", "virginica", "other")):
    return {
        "classes": list(classes),
        "feature_names": ["x0", "x1", "x2"],
        "standardizer": {"mean": [0.0, 1.0, 2.0], "scale": [1.0, 2.0, 3.0]},
        "transfer": "tanh",
        "config": {"lr": 0.1, "epochs": 3},
    }


def write_raw_npz(path, metadata=None, **arrays):
    """Write an npz by hand, as a foreign or hostile program might; a dict becomes JSON."""
    if isinstance(metadata, dict):
        metadata = np.array(json.dumps(metadata))
    if metadata is not None:
        arrays["metadata"] = metadata
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def no_temp_files(directory):
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")] == []


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("classes", [["a", "b", "c", "d"], [0, 1, 2, 3], [-1, "x", 7, "7"]])
def test_round_trip_keeps_arrays_and_metadata(tmp_path, classes):
    params, metadata = make_params(), make_metadata(classes)
    out = save_model(tmp_path / "m.npz", params, metadata)
    loaded, meta = load_model(out)
    assert set(loaded) == {"W", "b", "V", "gamma"}
    for name in params:
        np.testing.assert_array_equal(loaded[name], params[name])
    assert meta["classes"] == classes
    assert [type(c) for c in meta["classes"]] == [type(c) for c in classes]
    assert {k: meta[k] for k in metadata} == metadata
    assert meta["format"] == "nnclf-model"
    assert meta["format_version"] == 1  # one hidden layer: the format older nnclf reads
    assert meta["nnclf_version"] == nnclf.__version__


def test_numpy_labels_and_values_become_plain_python(tmp_path):
    metadata = {
        "classes": np.array([3, 1, 2, 0]),
        "names": np.array(["a", "b"]),
        "lr": np.float32(0.5),
        "shuffle": np.bool_(True),
        "nested": {"k": (np.int64(2),)},
    }
    save_model(tmp_path / "m.npz", make_params(), metadata)
    _, meta = load_model(tmp_path / "m.npz")
    assert meta["classes"] == [3, 1, 2, 0] and type(meta["classes"][0]) is int
    assert meta["names"] == ["a", "b"] and type(meta["names"][0]) is str
    assert meta["lr"] == 0.5 and meta["shuffle"] is True and meta["nested"] == {"k": [2]}


def test_loaded_params_are_float64_contiguous_and_writable(tmp_path):
    params = make_params()
    params = {
        "W": np.asfortranarray(params["W"]).astype(np.float32),
        "b": params["b"][::1],
        "V": params["V"],
        "gamma": params["gamma"].astype(np.float32),
    }
    save_model(tmp_path / "m.npz", params, make_metadata())
    loaded, _ = load_model(tmp_path / "m.npz")
    for arr in loaded.values():
        assert arr.dtype == np.float64 and arr.flags.c_contiguous and arr.flags.writeable
    np.testing.assert_array_equal(loaded["W"], params["W"].astype(np.float64))


def test_path_without_npz_suffix_is_kept(tmp_path):
    out = save_model(str(tmp_path / "model.bin"), make_params(), make_metadata())
    assert out == tmp_path / "model.bin"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]
    load_model(out)


def test_metadata_is_stored_as_json_string_not_pickle(tmp_path):
    save_model(tmp_path / "m.npz", make_params(), make_metadata())
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        assert npz["metadata"].dtype.kind == "U"
        assert json.loads(str(npz["metadata"]))["transfer"] == "tanh"


def test_uint8_metadata_is_accepted(tmp_path):
    text = json.dumps({"format": "nnclf-model", "format_version": 1, "classes": ["é", 2]})
    write_raw_npz(
        tmp_path / "m.npz",
        **make_params(),
        metadata=np.frombuffer(text.encode("utf-8"), dtype=np.uint8),
    )
    _, meta = load_model(tmp_path / "m.npz")
    assert meta["classes"] == ["é", 2]


# --- atomic writes -----------------------------------------------------------------------


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "m.npz"
    save_model(path, make_params(seed=1), make_metadata())
    before = path.read_bytes()

    def half_then_crash(f):
        f.write(b"PK\x03\x04 partial")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(path, half_then_crash)
    assert path.read_bytes() == before
    assert no_temp_files(tmp_path)
    load_model(path)


def test_save_model_crash_midway_keeps_old_model(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save_model(path, make_params(seed=1), make_metadata())
    before = path.read_bytes()

    def crashing_savez(f, **arrays):
        f.write(b"PK\x03\x04")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crashing_savez)
    with pytest.raises(KeyboardInterrupt):
        save_model(path, make_params(seed=2), make_metadata())
    assert path.read_bytes() == before
    assert no_temp_files(tmp_path)


def test_atomic_write_replaces_and_text_helper(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    assert atomic_write_text(path, '{"ü": 1}\n') == path
    assert path.read_text(encoding="utf-8") == '{"ü": 1}\n'
    assert no_temp_files(tmp_path)


def test_save_into_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match=r"m\.npz'.*cannot be written.*directory exists"):
        save_model(tmp_path / "nope" / "m.npz", make_params(), make_metadata())


# --- save-side validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("V", np.zeros((3, 4)), r"parameter 'V' has shape \(3, 4\) but W has 5 hidden units"),
        ("b", np.zeros(4), r"parameter 'b' has shape \(4,\) but W has 5 hidden units"),
        ("gamma", np.zeros(3), r"parameter 'gamma' has shape \(3,\) but V has 4 classes"),
        ("W", np.zeros(5), r"parameter 'W' has shape \(5,\); expected \(m, d\)"),
        ("W", np.zeros((5, 3), dtype=np.int64), r"parameter 'W' has dtype int64; expected a float"),
        ("gamma", None, r"parameter 'gamma' is missing; pass all of W, b, V, gamma"),
    ],
)
def test_save_rejects_bad_params(tmp_path, name, value, match):
    params = make_params()
    if value is None:
        del params[name]
    else:
        params[name] = value
    with pytest.raises(ModelFileError, match=r"model file '.*m\.npz': " + match):
        save_model(tmp_path / "m.npz", params, make_metadata())
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_unexpected_param(tmp_path):
    with pytest.raises(ModelFileError, match="unexpected parameter 'U'; expected W, b, V, gamma"):
        save_model(tmp_path / "m.npz", {**make_params(), "U": np.zeros(2)}, make_metadata())


def test_save_rejects_non_json_metadata(tmp_path):
    metadata = {**make_metadata(), "config": {"layers": {1, 2}}}
    match = r"metadata\['config'\]\['layers'\] has type set, which JSON cannot store"
    with pytest.raises(ModelFileError, match=match):
        save_model(tmp_path / "m.npz", make_params(), metadata)
    with pytest.raises(ModelFileError, match=r"has key 1, which is not a string"):
        save_model(tmp_path / "m.npz", make_params(), {"counts": {1: 2}})
    with pytest.raises(ModelFileError, match=r"metadata has type list; pass a dict"):
        save_model(tmp_path / "m.npz", make_params(), [])
    assert list(tmp_path.iterdir()) == []


# --- load-side errors --------------------------------------------------------------------


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelFileError, match=r"model file '.*absent\.npz': not found"):
        load_model(tmp_path / "absent.npz")
    with pytest.raises(ModelFileError, match="is a directory, not a file"):
        load_model(tmp_path)


def test_truncated_model_file(tmp_path):
    path = tmp_path / "m.npz"
    save_model(path, make_params(), make_metadata())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"m\.npz': is truncated or not an npz file \(re-save"):
        load_model(path)


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(0).bytes(1000),
        b"",
        b"PK\x03\x04garbage",
        b"\x93NUMPY broken",
        pickle.dumps({"W": 1}),
    ],
)
def test_not_an_npz_file(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="is truncated or not an npz file"):
        load_model(path)


def test_npy_file_is_not_a_model(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(ModelFileError, match="is a single .npy array, not an nnclf model"):
        load_model(tmp_path / "a.npy")


def test_npz_without_metadata(tmp_path):
    write_raw_npz(tmp_path / "m.npz", **make_params())
    with pytest.raises(ModelFileError, match=r"is not an nnclf model \(missing 'metadata'\)"):
        load_model(tmp_path / "m.npz")


def test_npz_with_foreign_metadata_or_missing_param(tmp_path):
    write_raw_npz(tmp_path / "a.npz", metadata={"format": "other"}, **make_params())
    with pytest.raises(ModelFileError, match="is not an nnclf model"):
        load_model(tmp_path / "a.npz")
    params = make_params()
    del params["V"]
    write_raw_npz(
        tmp_path / "b.npz", metadata={"format": "nnclf-model", "format_version": 1}, **params
    )
    with pytest.raises(ModelFileError, match=r"is not an nnclf model \(missing parameter 'V'\)"):
        load_model(tmp_path / "b.npz")


def test_newer_format_version(tmp_path):
    assert FORMAT_VERSION == 2
    write_raw_npz(
        tmp_path / "m.npz", metadata={"format": "nnclf-model", "format_version": 3}, **make_params()
    )
    with pytest.raises(
        ModelFileError,
        match=r"was written by a newer nnclf \(format version "
        r"3 > 2\); upgrade nnclf",
    ):
        load_model(tmp_path / "m.npz")


def test_object_arrays_are_refused(tmp_path):
    params = make_params()
    params["W"] = np.array([[{"evil": os.getcwd}]] * 5, dtype=object)
    write_raw_npz(
        tmp_path / "m.npz", metadata={"format": "nnclf-model", "format_version": 1}, **params
    )
    with pytest.raises(ModelFileError, match="contains object arrays; refusing to load"):
        load_model(tmp_path / "m.npz")
    pickled_metadata = np.array([{"a": 1}], dtype=object)
    write_raw_npz(tmp_path / "n.npz", **make_params(), metadata=pickled_metadata)
    with pytest.raises(ModelFileError, match="contains object arrays; refusing to load"):
        load_model(tmp_path / "n.npz")


def test_inconsistent_shapes_on_load(tmp_path):
    params = make_params()
    params["V"] = np.zeros((3, 4))
    write_raw_npz(
        tmp_path / "m.npz", metadata={"format": "nnclf-model", "format_version": 1}, **params
    )
    with pytest.raises(
        ModelFileError, match=r"m\.npz': parameter 'V' has shape \(3, 4\) but W has 5 hidden units"
    ):
        load_model(tmp_path / "m.npz")
