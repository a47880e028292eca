import numpy as np
import pytest

from nnclf.data.preprocessing import Standardizer
from nnclf.export.trained import TrainedModel, encode_labels
from nnclf.graph.network import Network


def test_encode_labels_maps_each_label_to_its_class_index():
    classes = np.array(["b", "a", "c"])
    codes = encode_labels(["c", "a", "a", "b"], classes, str)
    np.testing.assert_array_equal(codes, [2, 1, 1, 0])
    assert codes.dtype == np.intp


def test_encode_labels_names_the_first_unknown_label_of_y():
    with pytest.raises(ValueError, match="^unknown: 'z'$"):
        encode_labels(["a", "z", "b", "y"], np.array(["a", "b"]), lambda v: f"unknown: {v!r}")


def test_trained_model_round_trip_predicts_the_same(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3)) * 5 + 2
    model = TrainedModel(
        Network(3, 4, 2, seed=1), np.array([10, 20]), ("p", "q", "r"), Standardizer().fit(X)
    )
    loaded = TrainedModel.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.encode([20, 10]), [1, 0])
    assert loaded.feature_names == ("p", "q", "r")
    with pytest.raises(
        ValueError, match="label 30 was never seen in training; the model knows 10, 20"
    ):
        loaded.encode([10, 30])


def test_untrained_builds_the_network_of_the_model_settings():
    from nnclf.config.settings import ModelConfig

    model = TrainedModel.untrained(
        ModelConfig(hidden_units=5, transfer="relu"),
        3,
        np.array(["x", "y"]),
        seed=4,
        feature_names=("a", "b", "c"),
    )
    reference = Network(3, 5, 2, "relu", seed=4)
    assert model.network.transfer == "relu" and model.feature_names == ("a", "b", "c")
    for name, value in reference.params.items():
        np.testing.assert_array_equal(model.network.params[name], value)


def test_pickled_model_predicts_the_same_and_log_proba_is_the_log():
    import pickle

    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 3))
    model = TrainedModel(
        Network(3, 4, 3, "sigmoid", seed=2), np.array([1, 5, 9]), standardizer=Standardizer().fit(X)
    )
    copy = pickle.loads(pickle.dumps(model))
    assert copy.network is not model.network and copy.network.transfer == "sigmoid"
    np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
    np.testing.assert_allclose(model.predict_log_proba(X), np.log(model.predict_proba(X)))
    np.testing.assert_array_equal(
        copy.predict(X), model.classes[np.argmax(model.predict_proba(X), axis=1)]
    )


def test_encode_adds_the_callers_hint():
    model = TrainedModel(Network(3, 4, 2, seed=1), np.array(["a", "b"]))
    with pytest.raises(
        ValueError,
        match=r"^label 'c' was never seen in training; the model "
        r"knows a, b; try again$",
    ):
        model.encode(["a", "c"], hint="; try again")


def test_dtype_is_kept_in_the_model_file_and_honoured_on_load(tmp_path):
    from nnclf.config.settings import ModelConfig
    from nnclf.export.trained import TrainedModel

    model = TrainedModel.untrained(
        ModelConfig(hidden_units=3, dtype="float32"), 4, np.array([0, 1]), seed=0
    )
    assert model.network.params["W"].dtype == np.float32
    model.save(tmp_path / "m.npz")
    loaded = TrainedModel.load(tmp_path / "m.npz")
    assert loaded.metadata()["dtype"] == "float32"
    assert all(p.dtype == np.float32 for p in loaded.network.params.values())
    assert np.array_equal(loaded.network.params["W"], model.network.params["W"])


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("classes", "[10000000000000000000000000000000000000000000000000, 20]", None),
        ("classes", "[1" + "0" * 5000 + ", 20]", "has an integer of 5001 digits in its metadata"),
        ("layers", "[4" + "0" * 5000 + "]", "has an integer of 5001 digits in its metadata"),
    ],
)
def test_a_huge_integer_in_a_model_file_is_one_error(tmp_path, field, value, problem):
    import json
    import re

    from nnclf.base.archive import read_archive, write_archive
    from nnclf.errors import ModelFileError

    path = TrainedModel(Network(3, 4, 2, seed=1), np.array([10, 20])).save(tmp_path / "m.npz")
    arrays, meta = read_archive(path, meta_key="metadata", kind="a model", error=ValueError)
    text = json.dumps(meta)
    text = re.sub(rf'"{field}": \[[^\]]*\]', f'"{field}": {value}', text)
    write_archive(path, arrays, {"__text__": 0}, meta_key="metadata")
    np.savez(path, **arrays, metadata=np.array(text))
    with pytest.raises(ModelFileError) as info:
        TrainedModel.load(path)
    if problem is None:  # a label past int64 is refused as a label
        problem = "its 'classes' is [10000000000000000000000000000000000000000000000000, 20], not"
    assert str(info.value).startswith(f"model file '{path}': {problem}")
