"""Hand-edited and damaged model files and checkpoints: every field of the wrong type is one
ModelFileError / CheckpointError naming the file and the field; property tests show that any
bytes, and any change to a valid file's JSON, either load (and predict, or go on training)
or raise nnclf's own error, nothing else."""

import json

import numpy as np
import pytest

from nnclf.base.archive import read_archive, write_archive
from nnclf.config.settings import SGDSettings
from nnclf.data.preprocessing import Standardizer
from nnclf.errors import CheckpointError, ModelFileError, NnclfError
from nnclf.export.trained import TrainedModel
from nnclf.graph.network import Network
from nnclf.training.trainer import CHECKPOINT_FIELDS, Trainer, load_checkpoint, save_checkpoint

hypothesis = pytest.importorskip("hypothesis")  # in the test extra: pip install ".[test]"
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st

# Example counts and deadlines come from the hypothesis profile chosen in conftest.py.
SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
D, M, K = 3, 4, 2


def _model() -> TrainedModel:
    X = np.arange(12.0).reshape(4, 3)
    return TrainedModel(
        Network(D, M, K, seed=0),
        np.array(["no", "yes"]),
        feature_names=("a", "b", "c"),
        standardizer=Standardizer().fit(X),
        config={"seed": 0},
    )


def _rewrite(path, meta_key, change):
    arrays, meta = read_archive(path, meta_key=meta_key, kind="x", error=AssertionError)
    change(meta)
    write_archive(path, arrays, meta, meta_key=meta_key)


# ----------------------------------------------------------------------------- model files


def _set(key, value):
    return lambda meta: meta.__setitem__(key, value)


BAD_METADATA = [
    # (field, change, problem after "model file '...': ")
    ("classes", _set("classes", "no,yes"), r"its 'classes' is 'no,yes', not a non-empty list"),
    ("classes", _set("classes", {"0": "no"}), r"its 'classes' is \{'0': 'no'\}, not a non-empty"),
    ("classes", _set("classes", []), r"its 'classes' is \[\], not a non-empty list"),
    ("classes", _set("classes", ["no", 1]), r"its 'classes' is \['no', 1\], not .* of one type"),
    ("classes", _set("classes", ["no", "no"]), r"its 'classes' is \['no', 'no'\], not .*distinct"),
    ("classes", _set("classes", [[1], [2]]), r"its 'classes' is \[\[1\], \[2\]\], not"),
    ("classes", _set("classes", [None, None]), r"its 'classes' is \[None, None\], not"),
    ("classes", _set("classes", None), r"its 'classes' is None, not a non-empty list"),
    ("classes", _set("classes", 2), r"its 'classes' is 2, not"),
    (
        "classes",
        lambda m: m.pop("classes"),
        r"has no 'classes' in its metadata; it was not "
        r"written by nnclf",
    ),
    ("classes", _set("classes", ["a", "b", "c"]), r"3 class labels for 2 outputs"),
    (
        "feature_names",
        _set("feature_names", 3),
        r"its 'feature_names' is 3, not a list of "
        r"strings or null",
    ),
    ("feature_names", _set("feature_names", "abc"), r"its 'feature_names' is 'abc', not a list"),
    ("feature_names", _set("feature_names", [1, 2, 3]), r"its 'feature_names' is \[1, 2, 3\]"),
    ("feature_names", _set("feature_names", ["a"]), r"1 feature names for W's 3 inputs"),
    (
        "standardizer",
        _set("standardizer", [1, 2]),
        r"its 'standardizer' is \[1, 2\], not a JSON "
        r"object or null",
    ),
    (
        "standardizer",
        _set("standardizer", {"mean": ["0"] * 3, "scale": [1] * 3}),
        r"in its standardizer, 'mean' is \['0', '0', '0'\], not a list of finite numbers",
    ),
    (
        "standardizer",
        _set("standardizer", {"mean": [0] * 3, "scale": "1"}),
        r"in its standardizer, 'scale' is '1', not a list of finite numbers",
    ),
    (
        "standardizer",
        _set("standardizer", {"mean": [0] * 3}),
        r"in its standardizer, has no 'scale' in its metadata",
    ),
    (
        "standardizer",
        _set("standardizer", {"mean": [0] * 2, "scale": [1] * 2}),
        r"its standardizer must hold 3 means and 3 scales > 0",
    ),
    (
        "standardizer",
        _set("standardizer", {"mean": [0] * 3, "scale": [1, 0, 1]}),
        r"its standardizer must hold 3 means and 3 scales > 0",
    ),
    (
        "standardizer",
        _set("standardizer", {"mean": [0, float("nan"), 0], "scale": [1] * 3}),
        r"in its standardizer, 'mean' is \[0, nan, 0\], not a list of finite numbers",
    ),
    (
        "transfer",
        _set("transfer", 5),
        r"its 'transfer' is 5, not a string or a non-empty list "
        r"of strings or null",
    ),
    ("transfer", _set("transfer", []), r"its 'transfer' is \[\], not a string or a non-empty"),
    ("transfer", _set("transfer", ["tanh", 1]), r"its 'transfer' is \['tanh', 1\], not a string"),
    (
        "transfer",
        _set("transfer", ["tanh", "relu"]),
        r"its 'transfer' lists 2 functions for 1 "
        r"hidden layer; the file was edited or damaged",
    ),
    ("transfer", _set("transfer", ["swish"]), r"its transfer function 'swish' is not registered"),
    (
        "layers",
        _set("layers", [4, 4]),
        r"its 'layers' \[4, 4\] do not match its weight "
        r"matrices' \[4\]; the file was edited or damaged",
    ),
    (
        "layers",
        _set("layers", 4),
        r"its 'layers' is 4, not a non-empty list of integers >= 1 "
        r"or null",
    ),
    ("layers", _set("layers", [0]), r"its 'layers' is \[0\], not a non-empty list of integers"),
    (
        "transfer",
        _set("transfer", "swish"),
        r"its transfer function 'swish' is not registered; "
        r"register it \(nnclf.graph.register_transfer\) before loading the model",
    ),
    ("dtype", _set("dtype", "float16"), r"its 'dtype' is 'float16', not one of float64, float32"),
    ("dtype", _set("dtype", 64), r"its 'dtype' is 64, not a string or null"),
    ("config", _set("config", "seed: 0"), r"its 'config' is 'seed: 0', not a JSON object"),
    ("format_version", _set("format_version", "1"), r"has an invalid format_version '1'"),
    ("format_version", _set("format_version", 1.0), r"has an invalid format_version 1.0"),
    ("format_version", _set("format_version", 0), r"has an invalid format_version 0"),
    ("format_version", _set("format_version", 99), r"was written by a newer nnclf"),
    ("format", _set("format", None), r"is not an nnclf model"),
]


@pytest.mark.parametrize("field, change, problem", BAD_METADATA)
def test_metadata_of_the_wrong_type_is_one_error_naming_file_and_field(
    tmp_path, field, change, problem
):
    path = tmp_path / "m.npz"
    _model().save(path)
    _rewrite(path, "metadata", change)
    with pytest.raises(ModelFileError, match=r"^model file '.*m\.npz': " + problem):
        TrainedModel.load(path)


@pytest.mark.parametrize("classes", [[0, 1], [1.5, 2.5], [False, True], ["a", "b"]])
def test_labels_of_every_json_kind_load(tmp_path, classes):
    path = tmp_path / "m.npz"
    _model().save(path)
    _rewrite(path, "metadata", _set("classes", classes))
    assert TrainedModel.load(path).classes.tolist() == classes


def test_optional_fields_may_be_missing_or_null(tmp_path):
    path = tmp_path / "m.npz"
    _model().save(path)
    _rewrite(
        path,
        "metadata",
        lambda m: (
            [m.pop(k) for k in ("feature_names", "standardizer", "dtype", "config")]
            and m.__setitem__("transfer", None)
        ),
    )
    model = TrainedModel.load(path)
    assert model.network.transfer == "tanh" and model.standardizer is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
MODEL_KEYS = st.sampled_from(
    [
        "classes",
        "feature_names",
        "standardizer",
        "transfer",
        "layers",
        "dtype",
        "config",
        "format",
        "format_version",
        "nnclf_version",
        "other",
    ]
)


def _predicts_or_refuses(path):
    try:
        model = TrainedModel.load(path)
    except ModelFileError as e:
        assert "\n" not in str(e) and "m.npz" in str(e)
        return
    p = model.predict_proba(np.ones((2, D)))
    assert p.shape == (2, K) and np.allclose(p.sum(axis=1), 1)
    assert len(model.predict(np.ones((2, D)))) == 2


@SETTINGS
@given(
    changes=st.lists(st.tuples(MODEL_KEYS, JSON | st.just(None)), max_size=4),
    drop=st.lists(MODEL_KEYS, max_size=2),
)
def test_any_change_to_the_metadata_loads_or_raises_modelfileerror(tmp_path, changes, drop):
    path = tmp_path / "m.npz"
    _model().save(path)

    def change(meta):
        for key, value in changes:
            meta[key] = value
        for key in drop:
            meta.pop(key, None)

    _rewrite(path, "metadata", change)
    _predicts_or_refuses(path)


@SETTINGS
@given(data=st.binary(max_size=400), cut=st.integers(0, 10**6), flip=st.integers(0, 10**6))
def test_any_bytes_load_or_raise_modelfileerror(tmp_path, data, cut, flip):
    path = tmp_path / "m.npz"
    _model().save(path)
    good = path.read_bytes()
    for bytes_ in (
        data,
        good[: cut % len(good)],
        good[: flip % len(good)]
        + bytes([good[flip % len(good)] ^ 0xFF])
        + good[flip % len(good) + 1 :],
    ):
        path.write_bytes(bytes_)
        _predicts_or_refuses(path)


# ----------------------------------------------------------------------------- checkpoints


def _trainer():
    settings_ = SGDSettings(epochs=3, schedule={"name": "constant", "eta0": 0.1}, engine="numpy")
    return Trainer(Network(D, M, K, seed=0), settings_, progress="none")


def _checkpoint(tmp_path):
    X, y = np.random.default_rng(0).normal(size=(6, D)), np.arange(6) % K
    trainer = _trainer()
    trainer.fit(X, y, max_steps=4)
    path = tmp_path / "c.npz"
    save_checkpoint(path, trainer)
    return path, X, y


BAD_STATE = [
    ("t", -1, "an integer >= 0"),
    ("t", "4", "an integer >= 0"),
    ("t", 4.0, "an integer >= 0"),
    ("t", None, "an integer >= 0"),
    ("t", True, "an integer >= 0"),
    ("seed", -3, "an integer >= 0"),
    ("seed", "0", "an integer >= 0"),
    ("history", "none", "a list of rows of numbers"),
    ("history", {}, "a list of rows of"),
    ("history", [1, 2], "a list of rows of numbers"),
    ("history", [{"step": "1"}], "a list of rows of numbers"),
    ("epoch_rng_state", "x", "the state of a numpy PCG64 generator"),
    ("epoch_rng_state", {}, "the state of a numpy PCG64 generator"),
    ("epoch_rng_state", {"bit_generator": "PCG64"}, "the state of a numpy PCG64 generator"),
    (
        "epoch_rng_state",
        {"bit_generator": "MT19937", "state": {"key": [], "pos": 0}},
        "the state of a numpy PCG64 generator",
    ),
    ("epoch_start", -1, "an integer >= 0 or null"),
    ("epoch_start", "0", "an integer >= 0 or"),
    ("best_score", "low", "a number or null"),
    ("best_step", 1.5, "an integer >= 0 or null"),
    ("bad_evals", None, "an integer >= 0"),
    ("loss_sum", "0", "a number"),
    ("loss_count", -1, "an integer >= 0"),
    ("schedule", "constant", "a JSON object"),
    ("settings", [1], "a JSON object"),
]


@pytest.mark.parametrize("field, value, says", BAD_STATE)
def test_a_checkpoint_field_of_the_wrong_type_is_one_error(tmp_path, field, value, says):
    path, _, _ = _checkpoint(tmp_path)
    _rewrite(path, "state", _set(field, value))
    with pytest.raises(
        CheckpointError,
        match=rf"^checkpoint '.*c\.npz': its '{field}' is .*, "
        rf"not {says}",
    ):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "field, value", [("epoch_start", 5), ("epoch_start", 100), ("best_step", 5)]
)
def test_a_checkpoint_that_starts_its_epoch_after_t_is_refused(tmp_path, field, value):
    path, _, _ = _checkpoint(tmp_path)  # t = 4
    _rewrite(path, "state", _set(field, value))
    with pytest.raises(
        CheckpointError,
        match=rf"^checkpoint '.*c\.npz': its '{field}' is "
        rf"{value}, after its step t = 4; the file was edited or damaged",
    ):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "field", sorted(set(CHECKPOINT_FIELDS) - {"epoch_start", "best_score", "best_step"})
)
def test_a_checkpoint_without_a_field_names_it(tmp_path, field):
    path, _, _ = _checkpoint(tmp_path)
    _rewrite(path, "state", lambda s: s.pop(field))
    with pytest.raises(CheckpointError, match=rf"has no '{field}' in its metadata"):
        load_checkpoint(path)


STATE_KEYS = st.sampled_from(sorted(CHECKPOINT_FIELDS) + ["extra", "other"])


@SETTINGS
@given(changes=st.lists(st.tuples(STATE_KEYS, JSON), max_size=3))
def test_any_change_to_a_checkpoint_resumes_or_raises_nnclfs_error(tmp_path, changes):
    path, X, y = _checkpoint(tmp_path)
    _rewrite(path, "state", lambda s: s.update(changes))
    try:
        arrays, state = load_checkpoint(path)
        trainer = Trainer.from_state(Network(D, M, K, seed=1), arrays, state)
        trainer.fit(X, y)
    except NnclfError as e:
        # One line, unless it quotes a key or value of the file that holds a line break.
        assert "\n" not in str(e) or "\\n" in json.dumps(changes)
        return
    assert trainer.t == max(3 * len(X), state["t"])


def test_an_untouched_checkpoint_resumes_to_the_same_parameters(tmp_path):
    path, X, y = _checkpoint(tmp_path)
    whole = _trainer()
    whole.fit(X, y)
    arrays, state = load_checkpoint(path)
    resumed = Trainer.from_state(Network(D, M, K, seed=1), arrays, state)
    resumed.fit(X, y)
    assert json.dumps(resumed.history) == json.dumps(whole.history)
    for k in whole.network.params:
        np.testing.assert_array_equal(resumed.network.params[k], whole.network.params[k])
