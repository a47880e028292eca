"""NNClassifier on tables: categorical columns, missing values, DataFrames of mixed dtypes.

The preparation the estimator learns is compared with scikit-learn's own SimpleImputer and
OneHotEncoder applied to the same columns; the rest follows scikit-learn's conventions
(HistGradientBoostingClassifier's ``categorical_features``, OneHotEncoder's warning for
unknown categories) and is checked against hand-made tables.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from nnclf import NNClassifier
from nnclf.errors import ConfigError, DataError
from nnclf.estimator.params import expected_failed_checks

SMALL = dict(hidden_units=6, epochs=3, random_state=0)
PENGUINS = Path(__file__).resolve().parent.parent / "data" / "penguins.csv"


@pytest.fixture(scope="module")
def penguins():
    table = pd.read_csv(PENGUINS)
    return table.drop(columns="species"), table["species"]


def mixed_table(n=40, seed=0):
    """A DataFrame of every kind of column: text (object and str), category, numbers."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], n).astype(object),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n)),
            "weight": rng.normal(10, 2, n),
            "count": rng.integers(0, 5, n),
        }
    )


def labels(n=40):
    return np.arange(n) % 2


# ----------------------------------------------------------------------------- which columns


def test_from_dtype_takes_the_category_string_and_object_columns():
    X = mixed_table().assign(name=lambda t: pd.array(t["colour"], dtype="string"))
    clf = NNClassifier(**SMALL).fit(X, labels())
    assert_array_equal(clf.is_categorical_, [True, True, False, False, True])
    assert clf.n_features_in_ == 5
    assert list(clf.feature_names_in_) == ["colour", "size", "weight", "count", "name"]
    assert clf.model_.input_names == (
        "colour=blue",
        "colour=green",
        "colour=red",
        "size=L",
        "size=M",
        "size=S",
        "weight",
        "count",
        "name=blue",
        "name=green",
        "name=red",
    )
    assert clf.W_.shape == (6, 11)


@pytest.mark.parametrize(
    "selection",
    [["colour", "count"], [0, 2], np.array([0, 2]), [True, False, True], np.array([1, 0, 1]) > 0],
    ids=["names", "indices", "index-array", "mask", "mask-array"],
)
def test_names_indices_and_a_mask_declare_the_same_columns(selection):
    X, y = mixed_table().drop(columns="size"), labels()
    clf = NNClassifier(categorical_features=selection, **SMALL).fit(X, y)
    assert_array_equal(clf.is_categorical_, [True, False, True])
    assert clf.model_.preparation.categorical == ("colour", "count")
    assert clf.model_.input_names == (
        "colour=blue",
        "colour=green",
        "colour=red",
        "weight",
        *(f"count={k}" for k in range(5)),
    )


def test_an_object_array_with_declared_columns_is_read_like_the_dataframe():
    X, y = mixed_table(), labels()
    by_frame = NNClassifier(categorical_features=[0, 2], **SMALL).fit(X.drop(columns="size"), y)
    values = X.drop(columns="size").to_numpy(dtype=object)
    by_array = NNClassifier(categorical_features=[0, 2], **SMALL).fit(values, y)
    assert_allclose(
        by_array.model_.preparation.transform(by_array._read_columns(values, reset=False)),
        by_frame.model_.preparation.transform(by_frame._read_columns(values, reset=False)),
    )
    assert by_array.model_.input_names[0] == "x0=blue" and by_array.model_.feature_names is None
    assert_array_equal(by_array.predict(values), by_frame.predict(X.drop(columns="size")))


def test_a_numpy_array_has_no_categorical_column_by_dtype():
    X = mixed_table().drop(columns="size").to_numpy(dtype=object)
    with pytest.raises(
        DataError,
        match=r"^column 'x0' holds text \('\w+' at row 0\) but an array has no categorical "
        r"columns by dtype; declare its index in categorical_features, or pass a DataFrame$",
    ):
        NNClassifier(**SMALL).fit(X, labels())


def test_categorical_features_none_refuses_a_text_column():
    with pytest.raises(
        DataError,
        match=r"^column 'colour' holds text \('\w+' at row 0\) but categorical_features=None "
        r"takes every column as numbers; let it be categorical",
    ):
        NNClassifier(categorical_features=None, **SMALL).fit(mixed_table(), labels())
    # Numbers in a category column are numbers then.
    X = pd.DataFrame({"a": pd.Categorical([1, 2, 3, 4]), "b": [0.0, 1.0, 0.0, 1.0]})
    clf = NNClassifier(categorical_features=None, **SMALL).fit(X, [0, 1, 0, 1])
    assert clf.is_categorical_ is None and clf.model_.input_names == ("a", "b")


def test_an_undeclared_text_column_of_a_list_is_named():
    with pytest.raises(DataError, match=r"^column 'size' holds text .* does not declare it"):
        NNClassifier(categorical_features=["colour"], **SMALL).fit(mixed_table(), labels())


@pytest.mark.parametrize(
    "selection, X, message",
    [
        (
            ["colour", "sise"],
            mixed_table(),
            r"^categorical_features: X has no column 'sise' \(did you mean 'size'\?\); its "
            r"columns are 'colour', 'size', 'weight', 'count'$",
        ),
        (
            [0, 4],
            mixed_table(),
            r"^categorical_features: column index 4 is out of range for X's 4 columns "
            r"\(0 to 3\); give indices of columns of X$",
        ),
        (
            [True, False],
            mixed_table(),
            r"^categorical_features is a mask of 2 booleans but X has 4 columns; give one "
            r"per column$",
        ),
        (
            ["colour"],
            np.zeros((4, 2)),
            r"^categorical_features names columns \('colour'\) but X has no column names; "
            r"pass a DataFrame, or give column indices or a boolean mask$",
        ),
        (
            ["colour", 1],
            mixed_table(),
            r"^categorical_features must be 'from_dtype', None, or a list of column names, "
            r"of column indices, or of booleans \(a mask, one per column\), got \['colour', 1\]$",
        ),
    ],
    ids=["unknown-name", "index-out-of-range", "short-mask", "names-of-an-array", "mixed"],
)
def test_a_wrong_categorical_features_is_one_line_naming_it(selection, X, message):
    with pytest.raises(ConfigError, match=message):
        NNClassifier(categorical_features=selection, **SMALL).fit(X, labels(len(X)))


def test_scikit_learn_refuses_what_is_not_a_selection():
    with pytest.raises(ValueError, match="The 'categorical_features' parameter"):
        NNClassifier(categorical_features="auto").fit(mixed_table(), labels())
    with pytest.raises(ValueError, match="The 'missing' parameter"):
        NNClassifier(missing="drop").fit(mixed_table(), labels())
    with pytest.raises(ValueError, match="The 'min_frequency' parameter"):
        NNClassifier(min_frequency=0).fit(mixed_table(), labels())


# ----------------------------------------------------------------------------- the preparation


def sklearn_prepared(train, test, numeric, categorical, min_frequency):
    """scikit-learn's imputation and one-hot coding of the same columns, fitted on
    ``train`` and applied to ``test``, as a DataFrame whose columns are named as nnclf
    names its inputs."""
    imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
    imputer.fit(train[numeric])
    encoder = OneHotEncoder(handle_unknown="ignore", min_frequency=min_frequency)
    encoder.fit(train[categorical].astype(object))
    parts = []
    names = [
        f"{n.removeprefix('missingindicator_')}_missing" if n.startswith("missingindicator_") else n
        for n in imputer.get_feature_names_out()
    ]
    parts.append(pd.DataFrame(imputer.transform(test[numeric]), columns=names))
    names = []
    for column, cats, infrequent in zip(
        categorical, encoder.categories_, encoder.infrequent_categories_
    ):
        infrequent = set() if infrequent is None else {_key(c) for c in infrequent}
        names += [f"{column}={_text(c)}" for c in cats if _key(c) not in infrequent]
        names += [f"{column}=<other>"] if infrequent else []
    coded = encoder.transform(test[categorical].astype(object)).toarray()
    parts.append(pd.DataFrame(coded, columns=names))
    return pd.concat(parts, axis=1)


def _key(c):
    return None if c is None or (isinstance(c, float) and np.isnan(c)) else c


def _text(c):
    return "<missing>" if _key(c) is None else str(c)


def random_table(seed, n=60):
    """Numbers with NaN (one column all missing), text with None and rare categories."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    a[rng.random(n) < 0.2] = np.nan
    b = rng.integers(0, 100, n).astype(float)
    empty = np.full(n, np.nan)
    words = rng.choice(["ant", "bee", "cat", "dog", "eel"], n, p=[0.4, 0.3, 0.2, 0.07, 0.03])
    colour = np.where(rng.random(n) < 0.15, None, words).astype(object)
    shade = rng.choice(["dark", "light"], n).astype(object)
    return pd.DataFrame({"a": a, "colour": colour, "b": b, "empty": empty, "shade": shade})


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("min_frequency", [1, 3])
def test_the_preparation_is_scikit_learns_imputer_and_one_hot_encoder(seed, min_frequency):
    table = random_table(seed)
    train, test = table.iloc[:40].reset_index(drop=True), table.iloc[40:].reset_index(drop=True)
    test.loc[0, "colour"], test.loc[1, "b"] = "yak", np.nan  # unseen; missing only now
    clf = NNClassifier(min_frequency=min_frequency, **SMALL).fit(train, labels(40))
    ours = clf.model_.preparation.transform(clf._read_columns(test, reset=False))
    theirs = sklearn_prepared(train, test, ["a", "b", "empty"], ["colour", "shade"], min_frequency)
    names = clf.model_.input_names
    assert sorted(names) == sorted(theirs.columns)
    assert_allclose(ours, theirs[list(names)].to_numpy())
    assert names[:2] == ("a", "a_missing")  # an indicator follows its column
    assert "b_missing" not in names and "empty_missing" in names


def test_missing_values_of_every_spelling_are_imputed():
    X = pd.DataFrame(
        {
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "s": pd.array(["a", None, "b", "a"], dtype="string"),
            "o": np.array(["x", np.nan, None, "x"], dtype=object),
            "f": [0.5, np.nan, 1.5, 2.5],
        }
    )
    clf = NNClassifier(**SMALL).fit(X, [0, 1, 0, 1])
    assert clf.model_.input_names == (
        "n",
        "n_missing",
        "s=a",
        "s=b",
        "s=<missing>",
        "o=x",
        "o=<missing>",
        "f",
        "f_missing",
    )
    inputs = clf.model_.preparation.transform(clf._read_columns(X, reset=False))
    assert_array_equal(inputs[1], [3, 1, 0, 0, 1, 0, 1, 1.5, 1])  # medians 3 and 1.5


def test_the_callers_dataframe_is_left_as_it_was():
    X = pd.DataFrame({"o": np.array(["x", None, "y", "x"], dtype=object), "f": [1.0, 2, 3, 4]})
    before = X.copy()
    clf = NNClassifier(**SMALL).fit(X, [0, 1, 0, 1])
    clf.predict(X)
    pd.testing.assert_frame_equal(X, before)


def test_missing_only_at_prediction_is_filled_with_the_training_median():
    X = pd.DataFrame({"u": [1.0, 2.0, 4.0, 10.0], "v": [5.0, 1.0, 2.0, 3.0]})
    clf = NNClassifier(**SMALL).fit(X, [0, 1, 0, 1])
    assert clf.model_.input_names == ("u", "v")  # no indicator: nothing missing in training
    gaps = pd.DataFrame({"u": [np.nan, 4.0], "v": [np.nan, np.nan]})
    filled = pd.DataFrame({"u": [3.0, 4.0], "v": [2.5, 2.5]})  # np.median of u and of v
    assert_allclose(clf.predict_proba(gaps), clf.predict_proba(filled))
    # A numeric array too, the model of a numeric array included.
    clf = NNClassifier(**SMALL).fit(X.to_numpy(), [0, 1, 0, 1])
    assert_allclose(clf.predict_proba(gaps.to_numpy()), clf.predict_proba(filled.to_numpy()))


def test_missing_error_names_the_column_and_the_row():
    X = pd.DataFrame({"u": [1.0, 2.0, 4.0, 10.0], "c": ["a", "b", None, "a"]})
    message = r"^X has a missing value \(NaN or None\) in column 'c' at row 2 \(0-based\); "
    with pytest.raises(DataError, match=message + r"fill it, or set missing='impute'$"):
        NNClassifier(missing="error", **SMALL).fit(X, [0, 1, 0, 1])
    clf = NNClassifier(missing="error", **SMALL).fit(X.fillna("b"), [0, 1, 0, 1])
    with pytest.raises(DataError, match=r"in column 'u' at row 1 \(0-based\)"):
        clf.predict(pd.DataFrame({"u": [1.0, np.nan], "c": ["a", "a"]}))


def test_infinity_is_an_error_whatever_the_columns():
    X = pd.DataFrame({"u": [1.0, np.inf, 4.0, 10.0], "c": ["a", "b", "a", "a"]})
    for data in (X, X[["u"]], X[["u"]].to_numpy()):
        with pytest.raises(ValueError, match="Input X contains infinity"):
            NNClassifier(**SMALL).fit(data, [0, 1, 0, 1])


def test_a_column_missing_throughout_training_is_filled_with_zero():
    X = pd.DataFrame({"u": [1.0, 2.0, 4.0, 10.0], "gone": [np.nan] * 4, "c": [None] * 4})
    clf = NNClassifier(**SMALL).fit(X, [0, 1, 0, 1])
    assert clf.model_.input_names == ("u", "gone", "gone_missing", "c=<missing>")
    inputs = clf.model_.preparation.transform(clf._read_columns(X, reset=False))
    assert_array_equal(inputs[:, 1:], np.tile([0.0, 1.0, 1.0], (4, 1)))
    with pytest.warns(UserWarning, match="column 'c': 4 values never seen in fit"):
        assert clf.predict(X.assign(gone=5.0, c="new")).shape == (4,)


def test_a_single_category_is_one_input():
    X = pd.DataFrame({"u": [1.0, 2.0, 4.0, 10.0], "c": ["only"] * 4})
    clf = NNClassifier(**SMALL).fit(X, [0, 1, 0, 1])
    assert clf.model_.input_names == ("u", "c=only")
    inputs = clf.model_.preparation.transform(clf._read_columns(X, reset=False))
    assert_array_equal(inputs[:, 1], np.ones(4))


def test_a_category_is_its_spelling():
    X = pd.DataFrame({"code": ["01", "1", " 1 ", "01"], "u": [1.0, 2.0, 3.0, 4.0]})
    clf = NNClassifier(**SMALL).fit(X, [0, 1, 0, 1])
    assert clf.model_.input_names[:2] == ("code=01", "code=1")
    inputs = clf.model_.preparation.transform(clf._read_columns(X, reset=False))
    assert_array_equal(inputs[:, :2], [[1, 0], [0, 1], [0, 1], [1, 0]])


def test_a_numeric_column_declared_categorical_is_one_category_per_value(penguins):
    X, y = penguins
    clf = NNClassifier(categorical_features=["island", "sex", "year"], **SMALL).fit(X, y)
    assert clf.model_.input_names[-3:] == ("year=2007", "year=2008", "year=2009")
    # 2008 and 2008.0 are the same category; a year never seen is one.
    as_float = X.assign(year=X["year"].astype(float))
    assert_allclose(clf.predict_proba(as_float), clf.predict_proba(X))
    with pytest.warns(UserWarning, match=r"column 'year': 1 value never seen in fit \('2010'\)"):
        clf.predict(X.iloc[:2].assign(year=[2008, 2010]))


# ----------------------------------------------------------------------------- unseen values


def test_unseen_categories_warn_once_per_column_and_code_as_zeros(penguins):
    X, y = penguins
    clf = NNClassifier(**SMALL).fit(X, y)
    test = X.iloc[:8].copy()
    test["island"] = ["Atlantis", "Mars", "Mars", "Biscoe", "Ur", "Oz", "Avalon", "Eden"]
    test.loc[test.index[0], "sex"] = "unknown"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proba = clf.predict_proba(test)
    messages = [str(w.message) for w in caught]
    assert messages == [
        "Found unknown categories in column 'island': 7 values never seen in fit ('Atlantis', "
        "'Mars', 'Ur', 'Oz', 'Avalon'); they are encoded as all zeros",
        "Found unknown categories in column 'sex': 1 value never seen in fit ('unknown'); "
        "they are encoded as all zeros",
    ]
    assert all(w.category is UserWarning for w in caught)
    inputs = clf.model_.preparation.transform(clf._read_columns(test, reset=False))
    island = [k for k, name in enumerate(clf.model_.input_names) if name.startswith("island=")]
    assert_array_equal(inputs[:, island].sum(axis=1), [0, 0, 0, 1, 0, 0, 0, 0])
    assert_allclose(proba.sum(axis=1), 1.0)


# ----------------------------------------------------------------------------- sklearn's ways


def test_feature_names_are_checked_at_prediction_and_reset_by_fit():
    X, y = mixed_table(), labels()
    clf = NNClassifier(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match="The feature names should match"):
        clf.predict(X[["size", "colour", "weight", "count"]])
    wrong = pytest.raises(ValueError, match="X has 3 features, but NNClassifier is expecting 4")
    with pytest.warns(UserWarning, match="X does not have valid feature names"), wrong:
        clf.predict(X.iloc[:, :3].to_numpy(dtype=object))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        assert_array_equal(clf.predict(X.to_numpy(dtype=object)), clf.predict(X))
    clf.fit(X[["weight", "count"]].to_numpy(), y)
    assert clf.n_features_in_ == 2 and not hasattr(clf, "feature_names_in_")


def test_warm_start_and_partial_fit_keep_the_first_preparation():
    X, y = mixed_table(), labels()
    clf = NNClassifier(warm_start=True, **SMALL).fit(X, y)
    before = clf.model_.preparation
    clf.fit(X, y)
    assert clf.model_.preparation is before and clf.t_ == 2 * 3 * len(X)
    part = NNClassifier(**SMALL).partial_fit(X.iloc[:20], y[:20], classes=[0, 1])
    later = X.iloc[20:].assign(colour="purple")
    with pytest.warns(UserWarning, match="column 'colour': 20 values never seen in fit"):
        part.partial_fit(later, y[20:])
    assert part.model_.preparation.categorical == ("colour", "size")


def test_save_and_load_keep_the_preparation_and_the_parameters(tmp_path, penguins):
    X, y = penguins
    mask = np.array([True, False, False, False, False, True, True])
    clf = NNClassifier(categorical_features=mask, min_frequency=2, **SMALL).fit(X, y)
    path = clf.save(tmp_path / "penguins.npz")
    back = NNClassifier.load(path)
    assert back.model_.preparation == clf.model_.preparation
    assert_allclose(back.predict_proba(X), clf.predict_proba(X))
    assert back.get_params()["categorical_features"] == mask.tolist()
    assert back.min_frequency == 2 and back.missing == "impute"
    assert back.n_features_in_ == 7 and list(back.feature_names_in_) == list(X.columns)
    assert_array_equal(back.is_categorical_, mask)


def test_onnx_export_of_the_estimator_takes_one_input_per_column(penguins):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    X, y = penguins
    clf = NNClassifier(**SMALL).fit(X, y)
    session = ort.InferenceSession(clf.to_onnx().SerializeToString())
    kinds = {i.name: i.type for i in session.get_inputs()}
    assert kinds["island"] == "tensor(string)" and kinds["bill_length_mm"] == "tensor(float)"
    feeds = {
        name: (
            X[[name]].astype(object).where(X[[name]].notna(), "").astype(str).to_numpy()
            if kind == "tensor(string)"
            else X[[name]].to_numpy(np.float32)
        )
        for name, kind in kinds.items()
    }
    label, probabilities = session.run(None, feeds)
    assert_array_equal(label, clf.predict(X))
    assert_allclose(probabilities, clf.predict_proba(X), atol=1e-5)


def _as_category(table):
    return table.astype({"island": "category"})


def test_pipeline_and_grid_search_on_a_dataframe(penguins):
    X, y = penguins
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    columns = ColumnTransformer(
        [("scale", StandardScaler(), numeric), ("keep", "passthrough", ["island", "sex"])],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    pipe = Pipeline(
        [
            ("columns", columns),
            ("category", FunctionTransformer(_as_category).set_output(transform="pandas")),
            ("clf", NNClassifier(epochs=5, random_state=0)),
        ]
    )
    grid = {"clf__hidden_units": [4, 12], "clf__min_frequency": [1, 50]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X_train, y_train)
    assert search.score(X_test, y_test) > 0.9
    clf = search.best_estimator_.named_steps["clf"]
    assert list(clf.feature_names_in_) == numeric + ["island", "sex"]
    assert_array_equal(clf.is_categorical_, [False] * 4 + [True, True])
    # The estimator alone reads the raw table the same way.
    alone = NNClassifier(epochs=5, random_state=0).fit(X_train, y_train)
    assert alone.score(X_test, y_test) > 0.9


# The other settings of the new parameters pass scikit-learn's checks too (missing="error"
# says allow_nan=False, so check_estimators_nan_inf runs).
@parametrize_with_checks(
    [
        NNClassifier(hidden_units=5, steps=600, missing="error", categorical_features=None),
        NNClassifier(hidden_units=5, steps=600, min_frequency=3, categorical_features=[]),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_estimator_check(estimator, check):
    check(estimator)
