"""Tables as they come: text (categorical) columns and missing values, read, prepared as
scikit-learn's SimpleImputer and OneHotEncoder prepare them, trained, stored, and applied
by name at predict time."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder

from nnclf import NNClassifier
from nnclf.cli import main
from nnclf.data.frame import Frame, text_column
from nnclf.data.preparation import Preparation
from nnclf.data.sources import load_dataset, read_inputs
from nnclf.errors import DataError
from nnclf.export.trained import TrainedModel

TABLE = (
    "colour,size,code,year,label\n"
    "red,1.5,01,2007,a\n"
    "blue,,1,2008,b\n"
    "red,2.5,01,2007,a\n"
    "NA,3.0,1,2009,b\n"
    "green,NaN,02,2008,a\n"
    "blue,4.0,1,2007,b\n"
)


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ----------------------------------------------------------------------------- reading


def test_auto_reads_text_columns_as_categories_and_missing_cells_as_missing(tmp_path):
    ds = load_dataset(write(tmp_path, TABLE), target="label")
    X = ds.X
    assert isinstance(X, Frame) and X.names == ("colour", "size", "code", "year")
    assert X.text_names == ("colour",)  # code and year are numbers: numeric under auto
    assert X.columns["colour"].tolist() == ["red", "blue", "red", None, "green", "blue"]
    assert_array_equal(np.isnan(X.columns["size"]), [0, 1, 0, 0, 1, 0])


def test_a_listed_column_is_categorical_and_keeps_its_spelling(tmp_path):
    ds = load_dataset(
        write(tmp_path, TABLE), target="label", categorical=["colour", "code", "year"]
    )
    assert ds.X.text_names == ("colour", "code", "year")
    assert ds.X.columns["code"].tolist() == ["01", "1", "01", "1", "02", "1"]
    prep = Preparation.fit(ds.X)
    code = next(c for c in prep.columns if c.name == "code")
    assert code.categories == ["01", "02", "1"]  # "01" and "1" stay two categories
    assert "year=2007" in prep.input_names


def test_none_and_error_keep_the_old_errors_with_their_line(tmp_path):
    path = write(tmp_path, TABLE)
    with pytest.raises(DataError, match=r"column 'colour' has non-numeric value 'red' at line 2"):
        load_dataset(path, target="label", categorical="none")
    with pytest.raises(DataError, match=r"column 'colour' has a missing value 'NA' at line 5"):
        load_dataset(path, target="label", missing="error")
    with pytest.raises(DataError, match=r"^categorical: 'colr' is not a feature column.*'colour'"):
        load_dataset(path, target="label", categorical=["colr"])


def test_parquet_string_categorical_and_null_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = pd.DataFrame(
        {
            "colour": pd.Series(["red", "blue", None, "red"], dtype="string"),
            "kind": pd.Categorical(["x", "y", "x", None]),
            "size": [1.0, None, 3.0, 4.0],
            "label": ["a", "b", "a", "b"],
        }
    )
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    X = load_dataset(str(path), target="label").X
    assert X.text_names == ("colour", "kind")
    assert X.columns["colour"].tolist() == ["red", "blue", None, "red"]
    assert X.columns["kind"].tolist() == ["x", "y", "x", None]
    assert_array_equal(np.isnan(X.columns["size"]), [0, 1, 0, 0])


def test_npz_nan_is_missing_unless_refused(tmp_path):
    path = tmp_path / "d.npz"
    X = np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, 1.0], [4.0, 5.0]])
    np.savez(path, X=X, y=np.array([0, 1, 0, 1]))
    assert_array_equal(np.isnan(load_dataset(str(path)).X), np.isnan(X))
    with pytest.raises(DataError, match=r"non-finite value \(nan\) at row 0, column 1"):
        load_dataset(str(path), missing="error")


# ----------------------------------------------------------------------------- preparation


def _sklearn_prepared(frame: Frame, min_frequency: int) -> np.ndarray:
    """The same preparation by scikit-learn: SimpleImputer(median, indicator) for the
    numeric columns and OneHotEncoder(ignore unknown, min_frequency) for the text ones."""
    import pandas as pd

    df = pd.DataFrame({k: v for k, v in frame.columns.items()})
    text = list(frame.text_names)
    numeric = [n for n in frame.names if n not in text]
    ct = ColumnTransformer(
        [
            (
                "num",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                numeric,
            ),
            (
                "cat",
                OneHotEncoder(
                    handle_unknown="ignore", min_frequency=min_frequency, sparse_output=False
                ),
                text,
            ),
        ],
        verbose_feature_names_out=False,
    )
    return ct.fit(df), numeric, text


@pytest.mark.parametrize("min_frequency", [1, 2, 3])
def test_the_preparation_is_simple_imputer_and_one_hot_encoder(min_frequency):
    pytest.importorskip("pandas")
    rng = np.random.default_rng(min_frequency)
    n = 60
    size = rng.normal(size=n)
    size[rng.random(n) < 0.2] = np.nan
    empty = np.full(n, np.nan)  # all missing in training
    colour = rng.choice(
        ["red", "blue", "green", "teal", None], size=n, p=[0.4, 0.3, 0.15, 0.05, 0.1]
    )
    train = Frame(
        {
            "size": size,
            "empty": empty,
            "colour": text_column(colour),
            "one": text_column(["only"] * n),
        }
    )
    prep = Preparation.fit(train, min_frequency=min_frequency)
    ct, numeric, text = _sklearn_prepared(train, min_frequency)
    new = Frame(
        {
            "size": np.array([np.nan, 0.5, 1.0]),
            "empty": np.array([2.0, np.nan, 1.0]),
            "colour": text_column(["mauve", None, "red"]),  # unseen; missing; seen
            "one": text_column(["only", "other", None]),
        }
    )
    import pandas as pd

    for frame in (train, new):
        ours = prep.transform(frame)
        theirs = ct.transform(pd.DataFrame(frame.columns))
        # Columns by name: sklearn puts indicators after all numeric columns.
        names = [str(c) for c in ct.get_feature_names_out()]
        for k, name in enumerate(prep.input_names):
            j = names.index(_sklearn_name(name, numeric, text))
            assert_allclose(ours[:, k], theirs[:, j], err_msg=name)
        assert ours.shape[1] == theirs.shape[1]


def _sklearn_name(name: str, numeric, text) -> str:
    if name.endswith("_missing") and name[: -len("_missing")] in numeric:
        return "missingindicator_" + name[: -len("_missing")]
    if "=" in name:
        column, value = name.split("=", 1)
        value = {"<missing>": "nan", "<other>": "infrequent_sklearn"}.get(value, value)
        return f"{column}_{value}"
    return name


def test_the_preparation_round_trips_through_json():
    frame = Frame({"a": np.array([1.0, np.nan, 3.0]), "c": text_column(["x", None, "y"])})
    prep = Preparation.fit(frame, min_frequency=2)
    again = Preparation.from_dict(json.loads(json.dumps(prep.to_dict())))
    assert again == prep
    assert_array_equal(again.transform(frame), prep.transform(frame))


# ----------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def penguins_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("penguins") / "run"
    code = main(["train", "configs/penguins.yaml", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_train_says_what_it_did_and_info_shows_it(tmp_path, capsys):
    code = main(["train", "configs/penguins.yaml", "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0
    assert "nnclf: data: categorical: island (3 categories), sex (2 categories + missing)" in err
    assert "flagged by <column>_missing: bill_length_mm (" in err
    assert "nnclf: data: missing values as a category of their own: sex (" in err
    assert main(["info", str(tmp_path / "r"), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    kinds = {c["name"]: c["kind"] for c in card["preparation"]["columns"]}
    assert kinds["island"] == kinds["sex"] == "categorical" and kinds["year"] == "numeric"


def test_the_model_file_keeps_the_preparation_as_json(penguins_run):
    model = TrainedModel.load(penguins_run / "model.npz")
    meta = json.loads(np.load(penguins_run / "model.npz")["metadata"].tobytes())
    assert Preparation.from_dict(meta["preparation"]) == model.preparation
    assert model.feature_names == model.preparation.names
    assert model.n_features == model.preparation.width == 15
    # One-hot and indicator inputs are not standardised.
    mask = model.preparation.numeric_inputs
    assert_array_equal(model.standardizer.mean_[~mask], 0)
    assert_array_equal(model.standardizer.scale_[~mask], 1)


def test_predict_fills_and_warns_by_column_name(penguins_run, tmp_path, capsys):
    model = TrainedModel.load(penguins_run / "model.npz")
    # Columns in another order; year missing only here; an unseen island three times.
    new = (
        "year,sex,island,body_mass_g,flipper_length_mm,bill_depth_mm,bill_length_mm\n"
        ",male,Biscoe,4000,190,18,40\n"
        "2008,,Atlantis,4200,200,17,45\n"
        "2009,female,Mars,NA,210,15,48\n"
        "2007,female,Atlantis,3900,185,18.5,39\n"
    )
    path = write(tmp_path, new)
    out = tmp_path / "p.csv"
    assert main(["predict", str(penguins_run), "--data", path, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert (
        "column 'island' has 3 values never seen in training ('Atlantis', 'Mars'); "
        "their one-hot inputs are all zero" in err
    )
    assert err.count("never seen") == 1
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    # By hand: the same rows in training order, year's training median written in (year had
    # no missing value in training, so it has no indicator); body_mass_g had some: NaN.
    fill = {c.name: c.fill for c in model.preparation.columns if hasattr(c, "fill")}
    assert "year_missing" not in model.input_names
    frame = Frame(
        {
            "island": text_column(["Biscoe", "Atlantis", "Mars", "Atlantis"]),
            "bill_length_mm": np.array([40, 45, 48, 39.0]),
            "bill_depth_mm": np.array([18, 17, 15, 18.5]),
            "flipper_length_mm": np.array([190, 200, 210, 185.0]),
            "body_mass_g": np.array([4000, 4200, np.nan, 3900]),
            "sex": text_column(["male", None, "female", "female"]),
            "year": np.array([fill["year"], 2008, 2009, 2007]),
        }
    )
    assert [r[0] for r in rows] == model.predict(frame).tolist()
    assert_allclose(
        [[float(v) for v in r[1:]] for r in rows], model.predict_proba(frame), atol=1e-5
    )


def test_evaluate_reads_the_prepared_columns(penguins_run, capsys):
    assert main(["evaluate", str(penguins_run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    recorded = json.loads((penguins_run / "metrics.json").read_text())["test"]
    assert metrics["accuracy"] == pytest.approx(recorded["accuracy"])


def test_the_cli_and_the_estimator_prepare_the_same_data_the_same_way(penguins_run, tmp_path):
    pd = pytest.importorskip("pandas")
    cli = TrainedModel.load(penguins_run / "model.npz")
    # The CLI's training part, by the run's own config and split; the estimator fit on those.
    from nnclf.config.load import load_config
    from nnclf.runs.run import load_splits

    splits = load_splits(load_config(penguins_run / "config.yaml"))
    train = pd.DataFrame(
        {
            k: (pd.Series(v, dtype=object) if v.dtype == object else v)
            for k, v in splits.X_train.columns.items()
        }
    )
    clf = NNClassifier(hidden_units=5, epochs=1, random_state=0).fit(train, splits.y_train)
    assert clf.model_.preparation == cli.preparation
    assert_allclose(clf.model_.standardizer.mean_, cli.standardizer.mean_)
    assert_allclose(clf.model_.standardizer.scale_, cli.standardizer.scale_)
    # And the CLI's model, loaded as an estimator, predicts a table as nnclf predict does.
    back = NNClassifier.load(penguins_run / "model.npz")
    table = pd.read_csv("data/penguins.csv").drop(columns="species")
    inputs = read_inputs(
        "data/penguins.csv",
        cli.feature_names,
        "species",
        text=cli.preparation.categorical,
        missing=True,
    )
    assert_allclose(back.predict_proba(table), cli.predict_proba(inputs.X), atol=1e-12)
