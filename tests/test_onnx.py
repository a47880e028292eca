"""ONNX export (nnclf.export.onnx): onnxruntime runs the exported graph and agrees with nnclf.

Every model is checked the same way: onnxruntime's ``probabilities`` against nnclf's own
predict_proba (within 1e-5) and its ``label`` against nnclf's predict (identical), on data
the model was not fitted to.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from nnclf import NNClassifier  # noqa: E402
from nnclf.cli import main  # noqa: E402
from nnclf.data.preprocessing import Standardizer  # noqa: E402
from nnclf.errors import GraphError, UsageError  # noqa: E402
from nnclf.export.onnx import ONNX_TRANSFERS, to_onnx  # noqa: E402
from nnclf.export.trained import TrainedModel  # noqa: E402
from nnclf.graph import elementwise  # noqa: E402
from nnclf.graph.network import Network  # noqa: E402
from nnclf.graph.transfers import TRANSFERS  # noqa: E402


def run_onnx(proto, X):
    """onnxruntime's (label, probabilities) for X."""
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["X"]
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    return session.run(None, {"X": np.asarray(X, dtype=np.float32)})


def assert_agrees(model, X):
    label, proba = run_onnx(to_onnx(model), X)
    # nnclf's reference on the same float32 inputs that onnxruntime saw.
    X32 = np.asarray(X, dtype=np.float32).astype(np.float64)
    assert proba.dtype == np.float32 and proba.shape == (len(X), len(model.classes))
    np.testing.assert_allclose(proba, model.predict_proba(X32), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, model.predict(X32))
    return label


def random_model(transfer, layers, classes, standardize, dtype="float64", seed=0):
    """A model with random weights large enough that every class wins somewhere."""
    rng = np.random.default_rng(seed)
    d = 5
    net = Network(d, layers, len(classes), transfer=transfer, dtype=dtype, seed=seed)
    net.params = {
        k: (2.0 * rng.standard_normal(v.shape)).astype(net.dtype) for k, v in net.params.items()
    }
    X = rng.normal(3.0, 2.0, size=(200, d))
    scaler = Standardizer().fit(X) if standardize else None
    return TrainedModel(net, np.asarray(classes), standardizer=scaler), X[:100], X[100:]


@pytest.mark.parametrize("transfer", sorted(ONNX_TRANSFERS))
@pytest.mark.parametrize("layers", [7, (6, 4, 3)], ids=["one layer", "three layers"])
def test_every_transfer_and_depth_agrees_with_nnclf(transfer, layers):
    model, _, X = random_model(transfer, layers, ["a", "b", "c"], standardize=True)
    label = assert_agrees(model, X)
    assert label.dtype == object and set(label) <= {"a", "b", "c"}


@pytest.mark.parametrize("classes", [[0, 1], [3, 7, 9, 11], [-1, 1]])
@pytest.mark.parametrize("standardize", [True, False])
def test_integer_labels_binary_and_multiclass(classes, standardize):
    model, _, X = random_model("relu", 8, classes, standardize)
    label = assert_agrees(model, X)
    assert label.dtype == np.int64 and len(set(label)) > 1


def test_other_labels_keep_their_values():
    model, _, X = random_model("identity", 4, [0.5, 1.5, 2.25], standardize=True, seed=2)
    assert assert_agrees(model, X).dtype == np.float64
    model, _, X = random_model("tanh", 4, [False, True], standardize=False, seed=4)
    label = assert_agrees(model, X)  # a bool tensor: True/False, as nnclf predict says
    assert label.dtype == np.bool_
    big = np.array([0, 2**63, 2**64 - 1], dtype=np.uint64)
    model, _, X = random_model("tanh", 4, big, standardize=False, seed=4)
    label = assert_agrees(model, X)  # exact, not wrapped into negative int64
    assert label.dtype == np.uint64 and set(label.tolist()) <= set(big.tolist())


@pytest.mark.parametrize("classes", [["no", "yes"], ["setosa", "versicolor", "virginica"]])
def test_string_labels_binary_and_multiclass(classes):
    model, _, X = random_model("sigmoid", (5, 5), classes, standardize=False, seed=3)
    assert_agrees(model, X)


def test_a_float32_model_and_mixed_transfers():
    model, _, X = random_model(
        ["softplus", "tanh"], (6, 6), [0, 1, 2], standardize=True, dtype="float32", seed=5
    )
    assert model.network.dtype == np.float32
    assert_agrees(model, X)


def test_the_standardisation_is_in_the_graph_not_assumed_of_the_input():
    model, _, X = random_model("tanh", 4, [0, 1, 2], standardize=True)
    model.standardizer.mean_ = np.full(5, 100.0)  # inputs far from zero: a missing Sub shows
    assert_agrees(model, X + 100.0)
    ops = [n.op_type for n in to_onnx(model).graph.node]
    assert ops == ["Sub", "Div", "Gemm", "Tanh", "Gemm", "Softmax", "ArgMax", "Gather"]


def test_the_file_is_a_valid_model_that_onnxruntime_1_16_can_load():
    model, _, _ = random_model("tanh", 4, [0, 1], standardize=False)
    proto = to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == 8 and proto.opset_import[0].version == 17
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["classes"] == "[0, 1]" and proto.producer_name == "nnclf"


def test_a_transfer_without_an_onnx_form_is_a_clear_error(monkeypatch):
    cube = elementwise("cube", lambda z, out=None: np.power(z, 3, out=out), lambda z: 3 * z * z)
    monkeypatch.setitem(TRANSFERS, "cube", cube)
    model, _, _ = random_model("cube", 3, [0, 1], standardize=False)
    with pytest.raises(
        GraphError,
        match=r"^transfer function 'cube' has no ONNX form; the "
        r"export knows tanh, sigmoid, relu, identity, "
        r"softplus \(add its operator to "
        r"nnclf.export.onnx.ONNX_TRANSFERS\)$",
    ):
        to_onnx(model)
    monkeypatch.setitem(ONNX_TRANSFERS, "cube", "Neg")  # any one-input operator will do
    assert [n.op_type for n in to_onnx(model).graph.node][1] == "Neg"


def test_without_onnx_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    model, _, _ = random_model("tanh", 3, [0, 1], standardize=False)
    with pytest.raises(UsageError, match=r'install it with: pip install "nnclf\[onnx\]"'):
        to_onnx(model)


@pytest.mark.slow  # a fresh Python process
def test_importing_nnclf_does_not_import_onnx():
    code = (
        "import sys, nnclf, nnclf.estimator.classifier, nnclf.export.onnx, nnclf.cli; "
        "print(sorted(m for m in ('onnx', 'skl2onnx', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"


# ----------------------------------------------------------------------------- the estimator


def _fitted(y, **params):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(len(y), 4)) + np.eye(4)[np.arange(len(y)) % 4] * 3
    return NNClassifier(hidden_units=6, epochs=3, random_state=0, **params).fit(X, y), X


def test_the_estimator_exports_itself_and_writes_the_file(tmp_path):
    y = np.array(["cat", "dog", "emu", "fox"] * 30)
    clf, X = _fitted(y, dtype="float32", standardize=True)
    proto = clf.to_onnx()
    label, proba = run_onnx(proto, X)
    X32 = X.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(proba, clf.predict_proba(X32), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(label, clf.predict(X32))
    written = clf.to_onnx(tmp_path / "clf.onnx")
    assert onnx.load(str(tmp_path / "clf.onnx")) == written == proto


# ----------------------------------------------------------------------------- the command


@pytest.fixture
def model_file(tmp_path):
    model, _, X = random_model("tanh", (4, 3), ["x", "y", "z"], standardize=True)
    model.save(tmp_path / "m.npz")
    return tmp_path / "m.npz", model, X


def test_nnclf_export_writes_the_model(model_file, capsys):
    path, model, X = model_file
    out = path.parent / "m.onnx"
    assert main(["export", str(path), "--out", str(out)]) == 0
    assert capsys.readouterr().err == (
        f"nnclf: wrote {out} (ONNX: input X float32 (N, 5); outputs label, probabilities (N, 3))\n"
    )
    label, proba = run_onnx(onnx.load(str(out)), X)
    np.testing.assert_allclose(proba, model.predict_proba(X.astype(np.float32)), atol=1e-5)
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temp


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--out", "{dir}/m.onnx"],
            "--out {dir}/m.onnx: the file exists; choose another name, "
            "or add --force to overwrite it",
        ),
        (
            ["--out", "-"],
            "--out -: an ONNX model is binary; give the name of the file to write "
            "(e.g. --out model.onnx)",
        ),
        (
            ["--out", "{dir}"],
            "--out {dir}: is a directory; give the name of the file to write "
            "(e.g. --out {dir}/model.onnx)",
        ),
        (
            ["--out", "{dir}/no/m.onnx"],
            "--out {dir}/no/m.onnx: directory '{dir}/no' does not exist; create it first",
        ),
    ],
)
def test_nnclf_export_bad_out_is_one_line_and_exit_2(model_file, capsys, args, message):
    path, _, _ = model_file
    d = str(path.parent)
    (path.parent / "m.onnx").write_bytes(b"mine")
    assert main(["export", str(path)] + [a.format(dir=d) for a in args]) == 2
    assert capsys.readouterr().err == f"nnclf: error: {message.format(dir=d)}\n"
    assert (path.parent / "m.onnx").read_bytes() == b"mine"


def test_nnclf_export_force_replaces_and_a_bad_model_is_one_line(model_file, capsys):
    path, _, X = model_file
    out = path.parent / "m.onnx"
    out.write_bytes(b"mine")
    assert main(["export", str(path), "--out", str(out), "--force"]) == 0
    assert onnx.load(str(out)).graph.output[0].name == "label"
    path.write_bytes(path.read_bytes()[:100])
    capsys.readouterr()
    assert main(["export", str(path), "--out", str(out), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nnclf: error: model file '{path}'") and err.count("\n") == 1
    assert main(["export", str(path.parent / "nothing"), "--out", str(out), "--force"]) == 2


def test_nnclf_export_of_a_trained_run(tmp_path):
    iris = Path(__file__).resolve().parents[1] / "data" / "iris.csv"
    (tmp_path / "c.yaml").write_text(
        f"data: {{source: {iris}, target: species}}\n"
        "model: {hidden_units: [8, 4]}\ntrain: {epochs: 2}\n"
    )
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert main(["export", str(tmp_path / "r"), "--out", str(tmp_path / "r.onnx")]) == 0
    model = TrainedModel.load(tmp_path / "r" / "model.npz")
    X = np.loadtxt(iris, delimiter=",", skiprows=1, usecols=range(4))
    label, proba = run_onnx(onnx.load(str(tmp_path / "r.onnx")), X)
    np.testing.assert_allclose(proba, model.predict_proba(X.astype(np.float32)), atol=1e-5)
    np.testing.assert_array_equal(label, model.predict(X.astype(np.float32)))
    assert set(label) == {"setosa", "versicolor", "virginica"}


# ----------------------------------------------------------------------------- skl2onnx


@pytest.mark.parametrize(
    "y",
    [np.array(["no", "yes"] * 60), np.array([2, 5, 7, 9] * 30)],
    ids=["string binary", "integer multiclass"],
)
def test_skl2onnx_converts_a_pipeline(y):
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    NNClassifier.register_onnx()
    rng = np.random.default_rng(2)
    X = rng.normal(5.0, 3.0, size=(len(y), 4)) + (y == y[0])[:, None] * 4.0
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "nn",
                NNClassifier(hidden_units=(5, 4), transfer="softplus", epochs=3, random_state=0),
            ),
        ]
    ).fit(X, y)
    X32 = X.astype(np.float32)
    plain = skl2onnx.to_onnx(pipe, X32[:1], options={NNClassifier: {"zipmap": False}})
    label, proba = run_onnx(plain, X32)
    np.testing.assert_allclose(proba, pipe.predict_proba(X32.astype(np.float64)), atol=1e-5)
    np.testing.assert_array_equal(label, pipe.predict(X32.astype(np.float64)))
    zipped = skl2onnx.to_onnx(pipe, X32[:1])  # skl2onnx's default: a ZipMap per row
    session = ort.InferenceSession(zipped.SerializeToString())
    assert [o.name for o in session.get_outputs()] == ["output_label", "output_probability"]
    label2, maps = session.run(None, {"X": X32})
    np.testing.assert_array_equal(label2, label)
    classes = pipe.classes_.tolist()
    np.testing.assert_allclose([[m[c] for c in classes] for m in maps], proba, atol=1e-6)


@pytest.mark.slow  # a fresh Python process
def test_skl2onnx_imported_before_fit_converts_with_no_register_call():
    """A fresh process: skl2onnx is imported first, so the fit registers the converter."""
    pytest.importorskip("skl2onnx")
    code = textwrap.dedent("""
        import numpy as np, skl2onnx
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from nnclf import NNClassifier
        rng = np.random.default_rng(0)
        X = rng.normal(size=(60, 3)).astype(np.float32); y = (X[:, 0] > 0).astype(int)
        pipe = Pipeline([("s", StandardScaler()), ("nn", NNClassifier(hidden_units=3,
                                                                      epochs=2))]).fit(X, y)
        onx = skl2onnx.to_onnx(pipe, X[:1], options={NNClassifier: {"zipmap": False}})
        print([o.name for o in onx.graph.output])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "['label', 'probabilities']\n"
