"""ONNX export: a trained model as an ONNX graph that onnxruntime (or any ONNX server) runs.

Contract
--------
:func:`to_onnx` turns a :class:`~nnclf.export.trained.TrainedModel` into an ``onnx.ModelProto``
(opset :data:`OPSET`, IR version :data:`IR_VERSION`, which onnxruntime 1.16 and later run)
computing, from the raw features:

- the model's preparation (:mod:`nnclf.data.preparation`), when it keeps one: a missing
  numeric value (NaN) is filled with the column's training median, a numeric column that
  had missing values in training gets its 0/1 input ``<column>_missing``, and a categorical
  column becomes its one-hot inputs;
- the stored standardisation, (x - mean) / scale, when the model keeps one;
- every hidden layer, h = g(W h' + b) (one ``Gemm`` and the ONNX operator of g from
  :data:`ONNX_TRANSFERS`), then l = V h + gamma and ``probabilities`` = softmax(l), float32
  of shape (N, K), column k for ``classes[k]``;
- ``label``, shape (N,): the class labels themselves, ``classes[argmax_k p(k|x)]``, of the
  labels' own kind, as ``nnclf predict`` gives them: int64 for integer labels (uint64 for
  labels past int64), bool for booleans, a string tensor for text labels, double for other
  numbers.

Inputs
------
A model of numeric columns without missing-value indicators (and every model made before
preparations existed) takes ONE input ``X``, float32 of shape (N, d), the d columns in
training order; a NaN in it is filled with its column's training median, as nnclf fills it
(models made before preparations existed do not fill: they never saw a missing value).

A model with a categorical column, or with a ``<column>_missing`` input, takes ONE INPUT PER
COLUMN, as skl2onnx does for a pandas DataFrame (:func:`per_column`): a numeric column is
float32 of shape (N, 1), a categorical column a string tensor of shape (N, 1), each named
after its column. A name that is not an identifier ONNX allows (letters, digits and ``_``,
not starting with a digit) or that is taken by an output is changed (``bill length (mm)`` ->
``bill_length__mm_``); :func:`input_names` gives the names, and the file's metadata
``inputs`` maps each column to its input. To feed such a graph:

- a missing numeric value is NaN;
- a missing categorical value is the empty string ``""`` (or any spelling of
  :data:`nnclf.data.frame.MISSING_TEXT`, such as ``"NA"``); it switches on the column's
  ``<missing>`` input when the column had missing values in training, else none;
- a category is its text exactly as nnclf writes it (:func:`nnclf.data.frame.category_text`:
  no surrounding blanks; the number 2007 as ``"2007"``); a category folded into "other" in
  training switches on the "other" input, and one never seen in training switches on none of
  the column's inputs, as in nnclf.

For example, with onnxruntime and a pandas DataFrame ``df`` holding the columns::

    meta = {p.key: p.value for p in onnx.load("model.onnx").metadata_props}
    session = onnxruntime.InferenceSession("model.onnx")
    text = {i.name for i in session.get_inputs() if i.type == "tensor(string)"}
    feeds = {
        name: df[[column]].fillna("").astype(str).to_numpy(object)
        if name in text
        else df[[column]].to_numpy(np.float32)
        for column, name in json.loads(meta["inputs"]).items()
    }
    label, probabilities = session.run(None, feeds)

The graph does not check for missing values: a model trained with ``missing: error``
fills them as above where ``nnclf predict`` refuses them.

The names ``X``, ``label`` and ``probabilities`` are skl2onnx's, so the file is served as a
scikit-learn classifier converted by skl2onnx would be. The weights are stored as float32,
so probabilities agree with nnclf's to about 1e-7 and a label can differ only where two
classes' probabilities tie to float32 rounding.

:func:`recipe` is the graph as constants and nodes, which :mod:`nnclf.estimator.onnx` also
gives skl2onnx to convert an :class:`~nnclf.NNClassifier` inside a Pipeline;
:func:`describe_inputs` is the inputs in words, as ``nnclf export`` prints them.

The ``onnx`` package is needed (``pip install "nnclf[onnx]"``); without it, a one-line
:class:`~nnclf.errors.UsageError` says so. This module imports it only when called.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

import numpy as np

from nnclf.data.frame import MISSING_TEXT
from nnclf.data.preparation import CategoricalColumn
from nnclf.errors import GraphError, UsageError

__all__ = [
    "to_onnx",
    "save_onnx",
    "recipe",
    "per_column",
    "input_names",
    "describe_inputs",
    "ONNX_TRANSFERS",
    "OPSET",
    "ML_OPSET",
    "IR_VERSION",
]

OPSET = 17
"""The ONNX opset of exported graphs (onnxruntime 1.13 and later)."""
ML_OPSET = 3
"""The opset of the ``ai.onnx.ml`` domain (its ``LabelEncoder`` codes categories), imported by
graphs with a categorical column (onnxruntime 1.12 and later)."""
IR_VERSION = 8
"""The ONNX IR version of exported models (onnxruntime 1.10 and later)."""

ONNX_TRANSFERS: dict[str, str] = {
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "relu": "Relu",
    "identity": "Identity",
    "softplus": "Softplus",
}
"""The ONNX operator (one input, default domain) of each transfer function g, by name. A
transfer function registered with :func:`nnclf.graph.register_transfer` is exported
once its operator is added here, e.g. ``ONNX_TRANSFERS["elu"] = "Elu"``."""

INSTALL = 'pip install "nnclf[onnx]"'

# One node of the recipe: (op_type, inputs, outputs, attributes).
Node = tuple[str, list[str], list[str], dict]


def _onnx():
    """The onnx package, or a UsageError naming the extra that installs it."""
    try:
        import onnx
    except ImportError:
        raise UsageError(
            f"ONNX export needs the onnx package; install it with: {INSTALL}"
        ) from None
    return onnx


def _label_values(classes: np.ndarray, skl2onnx: bool = False) -> np.ndarray:
    """The classes as the ``label`` output holds them, as nnclf predicts them: bool, int64
    (uint64 past its range), str (object) or float64. ``skl2onnx``: its convention for a
    converted classifier, booleans as int64 (as its shape calculator declares them)."""
    classes = np.asarray(classes)
    if classes.dtype.kind == "b" and not skl2onnx:
        return classes.astype(bool)
    if classes.dtype.kind == "u" and classes.size and classes.max() > np.iinfo(np.int64).max:
        return classes.astype(np.uint64)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        return classes.astype(np.float64)
    return np.array([str(c) for c in classes.tolist()], dtype=object)


def recipe(
    model,
    x: str | Sequence[str],
    label: str,
    probabilities: str,
    fresh: Callable[[str], str],
    dtype=np.float32,
    skl2onnx: bool = False,
) -> tuple[dict[str, np.ndarray], list[Node]]:
    """The graph of ``model`` as constants (by name) and nodes, for either builder.

    Parameters
    ----------
    model : TrainedModel
    x : str or sequence of str
        The name of the input (N, d) of the raw columns; when :func:`per_column` (model),
        the names of the inputs (N, 1), one per column in order.
    label, probabilities : str
        The names of the two outputs.
    fresh : callable
        ``fresh(hint)`` gives a name not used elsewhere in the graph.
    dtype : numpy float dtype
        That of the (numeric) inputs and of the weights and probabilities.
    skl2onnx : bool
        Labels as skl2onnx declares a converted classifier's (booleans as int64).

    A transfer function without an ONNX operator in :data:`ONNX_TRANSFERS` is a GraphError.
    """
    net = model.network
    _check_transfers(net.transfers)
    built = _Builder(fresh)
    const, node = built.const, built.node
    h = _prepared(model, x, built, dtype)
    if model.standardizer is not None:
        h = node("Sub", [h, const("mean", model.standardizer.mean_.astype(dtype))], "centred")
        h = node("Div", [h, const("scale", model.standardizer.scale_.astype(dtype))], "x_std")
    names = net.param_names
    for k, g in enumerate(net.transfers):
        W, b = (net.params[n].astype(dtype) for n in names[2 * k : 2 * k + 2])
        z = node("Gemm", [h, const(names[2 * k], W), const(names[2 * k + 1], b)], "z", transB=1)
        h = node(ONNX_TRANSFERS[g], [z], "h")
    l = node(
        "Gemm",
        [
            h,
            const("V", net.params["V"].astype(dtype)),
            const("gamma", net.params["gamma"].astype(dtype)),
        ],
        "l",
        transB=1,
    )
    node("Softmax", [l], "p", probabilities, axis=1)
    best = node("ArgMax", [probabilities], "class_index", axis=1, keepdims=0)
    labels = _label_values(model.classes, skl2onnx)
    node("Gather", [const("classes", labels), best], "label", label, axis=0)
    return built.constants, built.nodes


def per_column(model) -> bool:
    """True when the graph of ``model`` takes one input per column: its preparation one-hot
    codes a categorical column or adds a ``<column>_missing`` input (see the module's
    contract); False when it takes one matrix ``X``."""
    return model.preparation is not None and not model.preparation.trivial


def _prepared(model, x, built: _Builder, dtype) -> str:
    """The nodes of the model's preparation: from the input(s) ``x`` to the name of the
    network's raw inputs (N, d), imputed and one-hot coded as
    :meth:`Preparation.transform <nnclf.data.preparation.Preparation.transform>` does."""
    preparation = model.preparation
    if preparation is None:
        return x
    if not per_column(model):
        if not isinstance(x, str):
            raise ValueError("a model of numeric columns without indicators takes one input")
        fills = np.array([c.fill for c in preparation.columns], dtype=dtype)
        gaps = built.node("IsNaN", [x], "x_gaps")
        return built.node("Where", [gaps, built.const("fill", fills), x], "x_filled")
    if isinstance(x, str) or len(x) != len(preparation.columns):
        raise ValueError(f"the model takes {len(preparation.columns)} inputs, one per column")
    blocks = []
    for column, name in zip(preparation.columns, x):
        if isinstance(column, CategoricalColumn):
            blocks.append(_one_hot(column, name, built, dtype))
            continue
        gaps = built.node("IsNaN", [name], f"{name}_gaps")
        fill = built.const(f"{name}_fill", np.array([column.fill], dtype=dtype))
        blocks.append(built.node("Where", [gaps, fill, name], f"{name}_filled"))
        if column.indicator:
            to = _onnx().helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
            blocks.append(built.node("Cast", [gaps], f"{name}_missing", to=to))
    return built.node("Concat", blocks, "x_prepared", axis=1)


def _one_hot(column, name: str, built: _Builder, dtype) -> str:
    """The one-hot inputs (N, k) of a categorical column from its string input (N, 1): a
    ``LabelEncoder`` gives each text the index of the input it switches on (-1: none), and
    ``Equal`` with 0..k-1 spreads it out, as ``CategoricalColumn.codes`` does."""
    k = len(column.inputs)
    lookup = {c: i for i, c in enumerate(column.categories)}
    lookup.update({c: len(column.categories) for c in column.other})
    codes = {c: i for c, i in lookup.items() if c is not None}
    if lookup.get(None) is not None:  # every spelling of a missing value is that category
        codes.update({spelling: lookup[None] for spelling in sorted(MISSING_TEXT)})
    code = built.node(
        "LabelEncoder",
        [name],
        f"{name}_code",
        domain="ai.onnx.ml",
        keys_strings=list(codes),
        values_int64s=list(codes.values()),
        default_int64=-1,
    )
    hits = built.node(
        "Equal", [code, built.const(f"{name}_inputs", np.arange(k, dtype=np.int64))], f"{name}_is"
    )
    to = _onnx().helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return built.node("Cast", [hits], f"{name}_onehot", to=to)


def _check_transfers(transfers) -> None:
    """A GraphError naming the first transfer function without an ONNX operator."""
    missing = [t for t in transfers if t not in ONNX_TRANSFERS]
    if missing:
        raise GraphError(
            f"transfer function {missing[0]!r} has no ONNX form; the export knows "
            f"{', '.join(ONNX_TRANSFERS)} (add its operator to "
            "nnclf.export.onnx.ONNX_TRANSFERS)"
        )


class _Builder:
    """The constants (by name) and nodes of a recipe, each under a name ``fresh`` gives."""

    def __init__(self, fresh: Callable[[str], str]):
        self.fresh = fresh
        self.constants: dict[str, np.ndarray] = {}
        self.nodes: list[Node] = []

    def const(self, hint: str, value) -> str:
        name = self.fresh(hint)
        self.constants[name] = value
        return name

    def node(self, op: str, inputs: list[str], hint: str, out: str | None = None, **attrs) -> str:
        out = out or self.fresh(hint)
        self.nodes.append((op, inputs, [out], attrs))
        return out


def _namer(taken: set[str]) -> Callable[[str], str]:
    def fresh(hint: str) -> str:
        name, i = hint, 1
        while name in taken:
            i += 1
            name = f"{hint}_{i}"
        taken.add(name)
        return name

    return fresh


def to_onnx(model, name: str = "nnclf"):
    """The ONNX model of a trained model (see the module docstring for the graph).

    Parameters
    ----------
    model : TrainedModel
    name : str
        The ONNX graph's name.

    Returns
    -------
    onnx.ModelProto
        Inputs: ``X`` float32 (N, d), or one per column (:func:`per_column`, named by
        :func:`input_names`); outputs ``label`` (N,) and ``probabilities`` float32 (N, K).
    """
    from nnclf.base.version import __version__

    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    inputs = _graph_inputs(model)
    x = list(inputs) if per_column(model) else "X"
    constants, nodes = recipe(
        model, x, "label", "probabilities", _namer({*inputs, "label", "probabilities"})
    )
    labels = _label_values(model.classes)
    graph = helper.make_graph(
        [helper.make_node(op, ins, outs, name=outs[0], **attrs) for op, ins, outs, attrs in nodes],
        name,
        [helper.make_tensor_value_info(k, kind, shape) for k, (kind, shape) in inputs.items()],
        [
            helper.make_tensor_value_info("label", _tensor_type(labels), [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, len(labels)]),
        ],
        initializer=[numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    opsets = [helper.make_opsetid("", OPSET)]
    if any(attrs.get("domain") == "ai.onnx.ml" for _, _, _, attrs in nodes):
        opsets.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))
    proto = helper.make_model(
        graph,
        producer_name="nnclf",
        producer_version=__version__,
        opset_imports=opsets,
        ir_version=IR_VERSION,
        doc_string=_describe(model),
    )
    names = list(model.feature_names) if model.feature_names is not None else None
    props = {"classes": json.dumps(labels.tolist()), "feature_names": json.dumps(names)}
    if per_column(model):
        props["inputs"] = json.dumps(input_names(model))
    helper.set_model_props(proto, props)
    onnx.checker.check_model(proto)
    return proto


def _tensor_type(values: np.ndarray) -> int:
    """The ONNX element type of an array's values; an object array holds strings."""
    from onnx import TensorProto, helper

    if values.dtype == object:
        return TensorProto.STRING
    return helper.np_dtype_to_tensor_dtype(values.dtype)


def _graph_inputs(model) -> dict[str, tuple[int, list]]:
    """The graph's inputs: name -> (ONNX element type, shape), in order."""
    from onnx import TensorProto

    if not per_column(model):
        return {"X": (TensorProto.FLOAT, [None, model.n_columns])}
    text = set(model.preparation.categorical)
    return {
        name: (TensorProto.STRING if column in text else TensorProto.FLOAT, [None, 1])
        for column, name in input_names(model).items()
    }


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def input_names(model) -> dict[str, str]:
    """The input of each column of a :func:`per_column` model: column -> input name.

    A column's name is the input's when it is an identifier (ASCII letters, digits and
    ``_``, not starting with a digit: what the ONNX standard allows) other than ``label``
    and ``probabilities``, the outputs; otherwise every other character becomes ``_``
    (``_`` in front of a leading digit) and ``_2``, ``_3``, ... follows a name taken.
    """
    columns = model.preparation.names
    taken = {"label", "probabilities"}
    kept = {c for c in columns if _IDENTIFIER.fullmatch(c) and c not in taken}
    fresh = _namer(taken | kept)
    names = {}
    for column in columns:
        if column in kept:
            names[column] = column
            continue
        name = re.sub(r"[^A-Za-z0-9_]", "_", column)
        names[column] = fresh(name if _IDENTIFIER.fullmatch(name) else f"_{name}")
    return names


def describe_inputs(model) -> str:
    """The graph's inputs in words: ``input X float32 (N, 4)``, or for a
    :func:`per_column` model, e.g. ``inputs 5 float32 (N, 1), 2 string (N, 1), one per
    column, named after the columns`` (and how many were renamed, where they are listed)."""
    if not per_column(model):
        return f"input X float32 (N, {model.n_columns})"
    names = input_names(model)
    n_text = len(model.preparation.categorical)
    n_numbers = len(names) - n_text
    counts = {"float32": n_numbers, "string": n_text}
    kinds = [f"{n} {kind} (N, 1)" for kind, n in counts.items() if n]
    renamed = sum(column != name for column, name in names.items())
    named = "named after the columns" + (
        f" ({renamed} renamed to be ONNX names: see the metadata 'inputs')" if renamed else ""
    )
    return f"inputs {', '.join(kinds)}, one per column, {named}"


def _describe(model) -> str:
    net = model.network
    prepared = ""
    if per_column(model):
        prepared = f"{model.n_columns} columns prepared (imputed, one-hot coded) into "
    return (
        f"nnclf softmax network: {prepared}{net.n_features} inputs, hidden layers "
        f"{list(net.layers)} ({', '.join(net.transfers)}), {net.n_classes} classes"
        f"{', standardised inputs' if model.standardizer is not None else ''}"
    )


def save_onnx(model, path):
    """Write :func:`to_onnx` of ``model`` to ``path`` atomically (a reader sees the old
    file or the whole new one); returns the ``onnx.ModelProto`` written."""
    from nnclf.base.outputs import atomic_write

    proto = to_onnx(model)
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return proto
