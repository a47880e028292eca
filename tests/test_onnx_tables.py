"""ONNX export of models trained on tables with text columns and missing values.

onnxruntime runs the exported graph, fed one input per column (numbers as float32 (N, 1) with
NaN where missing, categories as strings (N, 1) with "" where missing), and must agree with
nnclf's own predict and predict_proba on the same columns read as ``nnclf predict`` reads
them: labels identical, probabilities within 1e-5, on rows with missing values, unseen
categories and rare categories folded into "other".
"""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from nnclf import NNClassifier  # noqa: E402
from nnclf.cli import main  # noqa: E402
from nnclf.data.frame import MISSING_TEXT, Frame  # noqa: E402
from nnclf.data.preparation import NumericColumn, Preparation  # noqa: E402
from nnclf.data.preprocessing import Standardizer  # noqa: E402
from nnclf.data.sources import read_inputs  # noqa: E402
from nnclf.errors import UsageError  # noqa: E402
from nnclf.export.onnx import describe_inputs, input_names, to_onnx  # noqa: E402
from nnclf.export.trained import TrainedModel  # noqa: E402
from nnclf.graph.network import Network  # noqa: E402

PENGUINS = Path(__file__).resolve().parents[1] / "data" / "penguins.csv"


# ----------------------------------------------------------------------------- helpers


def train(tmp_path, csv: str, config: str, *sets: str) -> TrainedModel:
    """The model ``nnclf train`` makes of the CSV text ``csv`` with the config ``config``
    (its data.source is the CSV), trained for a few epochs."""
    (tmp_path / "train.csv").write_text(csv)
    (tmp_path / "c.yaml").write_text(config.format(source=tmp_path / "train.csv"))
    args = ["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run"), "--quiet"]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    return TrainedModel.load(tmp_path / "run" / "model.npz")


def read_frame(model, path) -> Frame:
    """The columns of a CSV as ``nnclf predict`` reads them for ``model``."""
    text = model.preparation.categorical
    return read_inputs(str(path), model.feature_names, text=text, missing=True).X


def feeds(proto, frame: Frame, missing: str = "") -> dict:
    """onnxruntime's inputs for ``frame``: one per column, named as the file's metadata
    ``inputs`` says; a missing category is the text ``missing``."""
    names = json.loads({p.key: p.value for p in proto.metadata_props}["inputs"])
    out = {}
    for column, values in frame.columns.items():
        if frame.is_text(column):
            cells = [missing if v is None else v for v in values.tolist()]
            out[names[column]] = np.array(cells, dtype=object).reshape(-1, 1)
        else:
            out[names[column]] = values.astype(np.float32).reshape(-1, 1)
    return out


def run_onnx(proto, inputs: dict):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    return session.run(None, inputs)


def as_float32(frame: Frame) -> Frame:
    """The frame with its numbers rounded to float32, as onnxruntime is given them."""
    return Frame(
        {
            name: v if frame.is_text(name) else v.astype(np.float32).astype(np.float64)
            for name, v in frame.columns.items()
        }
    )


def assert_agrees(model, frame: Frame, missing: str = ""):
    """onnxruntime's labels and probabilities for ``frame`` are nnclf's; returns them."""
    proto = to_onnx(model)
    label, proba = run_onnx(proto, feeds(proto, frame, missing))
    reference = as_float32(frame)
    assert proba.dtype == np.float32 and proba.shape == (len(frame), len(model.classes))
    np.testing.assert_allclose(proba, model.predict_proba(reference), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, model.predict(reference))
    return label, proba


# ----------------------------------------------------------------------------- penguins


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    out = tmp_path_factory.mktemp("penguins") / "run"
    config = Path(__file__).resolve().parents[1] / "configs" / "penguins.yaml"
    assert main(["train", str(config), "--out", str(out), "--quiet"]) == 0
    return TrainedModel.load(out / "model.npz")


def test_penguins_one_input_per_column_agrees_on_every_row(penguins):
    model = penguins
    proto = to_onnx(model)
    inputs = {i.name: i.type.tensor_type for i in proto.graph.input}
    assert list(inputs) == list(model.feature_names)  # the columns' own names, in order
    kinds = {n: onnx.TensorProto.DataType.Name(t.elem_type) for n, t in inputs.items()}
    assert kinds == {
        "island": "STRING",
        "bill_length_mm": "FLOAT",
        "bill_depth_mm": "FLOAT",
        "flipper_length_mm": "FLOAT",
        "body_mass_g": "FLOAT",
        "sex": "STRING",
        "year": "FLOAT",
    }
    assert all([d.dim_value for d in t.shape.dim][1] == 1 for t in inputs.values())
    frame = read_frame(model, PENGUINS)
    assert frame.missing_counts()  # the file has NA cells: they are part of the check
    label, _ = assert_agrees(model, frame)
    assert set(label) == {"Adelie", "Chinstrap", "Gentoo"}
    assert describe_inputs(model) == (
        "inputs 5 float32 (N, 1), 2 string (N, 1), one per column, named after the columns"
    )


def test_penguins_a_missing_category_may_be_any_spelling_nnclf_reads_as_missing(penguins):
    frame = read_frame(penguins, PENGUINS)
    rows = np.flatnonzero([v is None for v in frame.columns["sex"]])
    assert len(rows) > 0
    reference = assert_agrees(penguins, frame.take(rows))
    for spelling in sorted(MISSING_TEXT):
        again = assert_agrees(penguins, frame.take(rows), missing=spelling)
        np.testing.assert_array_equal(again[1], reference[1])


def test_penguins_missing_values_and_unseen_categories_at_predict_time(penguins, tmp_path):
    rows = [
        "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year",
        "Adelie,Atlantis,39.1,18.7,181,3750,male,2007",  # an island never seen
        "Gentoo,Biscoe,NA,NA,NA,NA,NA,2009",  # all numbers and the sex missing
        "Gentoo,,46.1,13.2,211,4500,unknown,",  # island missing (never in training), year too
        "Chinstrap,Dream,NA,17.9,192,NA,female,2008",
    ]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    frame = read_frame(penguins, tmp_path / "p.csv")
    assert penguins.preparation.unseen(frame) == {
        "island": (1, ["Atlantis"]),
        "sex": (1, ["unknown"]),
    }
    assert_agrees(penguins, frame)


# ----------------------------------------------------------------------------- hand-made tables

MIXED = "data: {{source: {source}, target: y, categorical: [colour, note]}}\ntrain: {{epochs: 4}}\n"


def _mixed_csv(n=80, seed=0, colours=("red", "green", "blue", "NA", "")) -> str:
    """colour (text, some missing), size (numbers, some missing), empty (numbers, all
    missing), note (text, all missing), y: a label that depends on colour and size."""
    rng = np.random.default_rng(seed)
    rows = ["colour,size,empty,note,y"]
    for i in range(n):
        colour = rng.choice(colours)
        size = rng.normal()
        label = "a" if (colour == "red") ^ (size > 0) else "b"
        rows.append(f"{colour},{'' if i % 7 == 0 else f'{size:.3f}'},NA,NA,{label}")
    return "\n".join(rows) + "\n"


PREDICT_MIXED = """colour,size,empty,note
red,0.5,NA,NA
blue,NA,NA,
NA,-1.0,3.5,hello
,2.0,,NA
purple,NA,-2,NA
green,0.1,NA,null
"""


def test_a_column_all_missing_in_training_and_values_in_it_at_predict_time(tmp_path):
    model = train(tmp_path, _mixed_csv(), MIXED)
    columns = {c.name: c for c in model.preparation.columns}
    assert columns["note"].categories == [None]  # only the missing value, a category
    assert columns["empty"].indicator and columns["empty"].fill == 0.0
    assert columns["colour"].categories == ["blue", "green", "red", None]
    (tmp_path / "p.csv").write_text(PREDICT_MIXED)
    frame = read_frame(model, tmp_path / "p.csv")
    assert model.preparation.unseen(frame) == {
        "colour": (1, ["purple"]),
        "note": (1, ["hello"]),
    }
    assert_agrees(model, frame)
    # the graph's inputs (by hand): "purple" and "hello" switch on nothing, "" the missing one
    inputs = model.preparation.transform(frame)
    np.testing.assert_array_equal(inputs[4, :4], [0, 0, 0, 0])
    np.testing.assert_array_equal(inputs[1, :4], [1, 0, 0, 0])
    np.testing.assert_array_equal(inputs[3, :4], [0, 0, 0, 1])
    np.testing.assert_array_equal(inputs[2, -1], 0)


def test_the_one_hot_block_is_what_nnclf_computes_for_every_row(tmp_path):
    """The graph up to its Concat, run alone, gives the inputs Preparation.transform gives."""
    model = train(tmp_path, _mixed_csv(), MIXED)
    (tmp_path / "p.csv").write_text(PREDICT_MIXED)
    frame = read_frame(model, tmp_path / "p.csv")
    proto = to_onnx(model)
    concat = next(n for n in proto.graph.node if n.op_type == "Concat")
    proto.graph.output.append(
        onnx.helper.make_tensor_value_info(concat.output[0], onnx.TensorProto.FLOAT, None)
    )
    *_, prepared = run_onnx_all(proto, feeds(proto, frame))
    np.testing.assert_allclose(prepared, model.preparation.transform(frame), rtol=1e-6)


def run_onnx_all(proto, inputs):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def test_rare_categories_fold_into_other_as_in_nnclf(tmp_path):
    # "violet" and the missing value occur once: with min_frequency 2 both are "other"
    csv = _mixed_csv(n=60, colours=("red", "green", "blue")).splitlines()
    csv[5] = "violet," + csv[5].split(",", 1)[1]
    csv[9] = "NA," + csv[9].split(",", 1)[1]
    model = train(tmp_path, "\n".join(csv) + "\n", MIXED, "data.min_frequency=2")
    colour = model.preparation.columns[0]
    assert colour.categories == ["blue", "green", "red"] and colour.other == ["violet", None]
    assert model.input_names[:4] == ("colour=blue", "colour=green", "colour=red", "colour=<other>")
    (tmp_path / "p.csv").write_text(PREDICT_MIXED + "violet,0.3,NA,NA\nteal,0.3,NA,NA\n")
    frame = read_frame(model, tmp_path / "p.csv")
    inputs = model.preparation.transform(frame)
    # blue; "NA" and violet (both rare): "other"; teal (never seen): nothing
    expected = [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    np.testing.assert_array_equal(inputs[[1, 2, 6, 7], :4], expected)
    assert_agrees(model, frame)


def test_missing_values_only_at_predict_time(tmp_path):
    """A model that saw no missing value: no indicator, no <missing> category; at predict
    time a NaN is filled with the median and a missing category switches on nothing."""
    csv = _mixed_csv(n=60, colours=("red", "green", "blue")).replace(",,", ",0.25,")
    model = train(tmp_path, csv.replace("NA,NA,", "1,x,"), MIXED)
    assert not model.preparation.columns[1].indicator
    assert None not in model.preparation.columns[0].categories
    (tmp_path / "p.csv").write_text(PREDICT_MIXED)
    frame = read_frame(model, tmp_path / "p.csv")
    assert frame.missing_counts()
    label, _ = assert_agrees(model, frame)
    assert len(label) == 6


def test_column_names_onnx_does_not_allow_are_renamed_and_recorded(tmp_path, capsys):
    csv = _mixed_csv(n=60).replace("colour,size,empty,note,y", "colour (main),2nd,label,a b,y")
    config = (
        "data: {{source: {source}, target: y, categorical: ['colour (main)', 'a b']}}\n"
        "train: {{epochs: 2}}\n"
    )
    model = train(tmp_path, csv, config)
    names = input_names(model)
    assert names == {
        "colour (main)": "colour__main_",
        "2nd": "_2nd",
        "label": "label_2",
        "a b": "a_b",
    }
    proto = to_onnx(model)
    assert [i.name for i in proto.graph.input] == list(names.values())
    assert json.loads({p.key: p.value for p in proto.metadata_props}["inputs"]) == names
    rows = PREDICT_MIXED.replace("colour,size,empty,note", "colour (main),2nd,label,a b")
    (tmp_path / "p.csv").write_text(rows)
    assert_agrees(model, read_frame(model, tmp_path / "p.csv"))
    out = tmp_path / "m.onnx"
    capsys.readouterr()
    assert main(["export", str(tmp_path / "run"), "--out", str(out)]) == 0
    assert capsys.readouterr().err == (
        f"nnclf: wrote {out} (ONNX: inputs 2 float32 (N, 1), 2 string (N, 1), one per "
        "column, named after the columns (4 renamed to be ONNX names: see the metadata "
        "'inputs'); outputs label, probabilities (N, 2))\n"
    )


def test_nnclf_export_of_penguins_names_the_per_column_inputs(penguins, tmp_path, capsys):
    penguins.save(tmp_path / "m.npz")
    out = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "m.npz"), "--out", str(out)]) == 0
    assert capsys.readouterr().err == (
        f"nnclf: wrote {out} (ONNX: inputs 5 float32 (N, 1), 2 string (N, 1), one per column, "
        "named after the columns; outputs label, probabilities (N, 3))\n"
    )
    proto = onnx.load(str(out))
    assert proto == to_onnx(penguins)
    assert {o.domain: o.version for o in proto.opset_import} == {"": 17, "ai.onnx.ml": 3}
    assert_agrees(penguins, read_frame(penguins, PENGUINS))


# ----------------------------------------------------------------------------- numbers only


def test_a_numeric_model_keeps_one_input_x_and_fills_nan_with_the_medians(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(2.0, 1.5, size=(80, 3))
    y = np.where(X[:, 0] + X[:, 1] > 4, "hi", "lo")
    rows = ["a,b,c,y"] + [f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{t}" for r, t in zip(X, y)]
    config = "data: {{source: {source}, target: y}}\ntrain: {{epochs: 3}}\n"
    model = train(tmp_path, "\n".join(rows) + "\n", config)
    assert model.preparation.trivial
    proto = to_onnx(model)
    assert [i.name for i in proto.graph.input] == ["X"]
    assert [n.op_type for n in proto.graph.node][:2] == ["IsNaN", "Where"]
    Xp = rng.normal(2.0, 1.5, size=(40, 3)).astype(np.float32)
    Xp[::3, 0] = np.nan
    Xp[1::4, 1:] = np.nan
    label, proba = run_onnx(proto, {"X": Xp})
    np.testing.assert_allclose(proba, model.predict_proba(Xp.astype(np.float64)), atol=1e-5)
    np.testing.assert_array_equal(label, model.predict(Xp.astype(np.float64)))
    # a NaN gives what its column's stored median gives, in onnxruntime itself
    fills = np.array([c.fill for c in model.preparation.columns], dtype=np.float32)
    assert np.all((X.min(axis=0) < fills) & (fills < X.max(axis=0)))
    _, filled = run_onnx(proto, {"X": np.where(np.isnan(Xp), fills, Xp)})
    np.testing.assert_array_equal(filled, proba)
    assert describe_inputs(model) == "input X float32 (N, 3)"


# ----------------------------------------------------------------------------- skl2onnx


def _fitted(preparation):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    clf = NNClassifier(hidden_units=5, epochs=2, random_state=0).fit(X, y)
    clf.model_ = replace(clf.model_, preparation=preparation)
    return clf, X


def test_skl2onnx_refuses_a_model_with_one_input_per_column():
    skl2onnx = pytest.importorskip("skl2onnx")
    NNClassifier.register_onnx()
    columns = (NumericColumn("a", 0.0, indicator=True, missing=3),) + tuple(
        NumericColumn(n, 0.0) for n in "bc"
    )
    clf, X = _fitted(Preparation(columns))
    with pytest.raises(
        UsageError,
        match=r"^skl2onnx cannot convert an NNClassifier fitted on categorical columns or on "
        r"columns with missing values \(its ONNX graph takes one input per column\); export "
        r"it with clf.to_onnx\(\) or nnclf export instead$",
    ):
        skl2onnx.to_onnx(clf, X[:1].astype(np.float32))


def test_skl2onnx_fills_nan_for_a_numeric_model():
    skl2onnx = pytest.importorskip("skl2onnx")
    NNClassifier.register_onnx()
    fills = [0.5, -1.0, 2.0, 0.0]
    clf, X = _fitted(Preparation(tuple(NumericColumn(f"x{j}", f) for j, f in enumerate(fills))))
    X32 = X.astype(np.float32)
    X32[::2, 1] = np.nan
    proto = skl2onnx.to_onnx(clf, X32[:1], options={NNClassifier: {"zipmap": False}})
    label, proba = run_onnx_all(proto, {"X": X32})
    filled = np.where(np.isnan(X32), np.array(fills), X32)
    np.testing.assert_allclose(proba, clf.model_.predict_proba(filled), atol=1e-5)
    np.testing.assert_array_equal(label, clf.model_.predict(filled))


# ----------------------------------------------------------------------------- property


def _random_model(frame: Frame, min_frequency: int, seed: int) -> TrainedModel:
    preparation = Preparation.fit(frame, min_frequency=min_frequency)
    inputs = preparation.transform(frame)
    scaler = Standardizer().fit(inputs, numeric=preparation.numeric_inputs)
    net = Network(preparation.width, 6, 3, seed=seed)
    rng = np.random.default_rng(seed)
    net.params = {k: 2.0 * rng.standard_normal(v.shape) for k, v in net.params.items()}
    return TrainedModel(
        net, np.array([10, 20, 30]), preparation.names, scaler, preparation=preparation
    )


def _random_frame(rng, n: int, words) -> Frame:
    text = np.empty(n, dtype=object)
    text[:] = [None if rng.random() < 0.2 else rng.choice(words) for _ in range(n)]
    numbers = rng.normal(size=n)
    numbers[rng.random(n) < 0.2] = np.nan
    return Frame({"t": text, "x": numbers, "u": rng.normal(size=n)})


@pytest.mark.parametrize("seed", range(8))
def test_random_tables_agree(seed):
    """Random categories (rare ones folded), missing values and unseen categories."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(rng.integers(1, 7))]
    train_frame = _random_frame(rng, int(rng.integers(5, 40)), words)
    model = _random_model(train_frame, int(rng.integers(1, 4)), seed)
    test_frame = _random_frame(rng, 50, words + ["new", "w99"])
    assert_agrees(model, test_frame)
