"""ONNX export: a trained model as an ONNX graph that onnxruntime (or any ONNX server) runs.

Contract
--------
:func:`to_onnx` turns a :class:`~nnclf.export.trained.TrainedModel` into an ``onnx.ModelProto``
(opset :data:`OPSET`, IR version :data:`IR_VERSION`, which onnxruntime 1.16 and later run)
computing, for a float32 input ``X`` of shape (N, d) of raw features:

- the stored standardisation, (X - mean) / scale, when the model keeps one;
- every hidden layer, h = g(W h' + b) (one ``Gemm`` and the ONNX operator of g from
  :data:`ONNX_TRANSFERS`), then l = V h + gamma and ``probabilities`` = softmax(l), float32
  of shape (N, K), column k for ``classes[k]``;
- ``label``, shape (N,): the class labels themselves, ``classes[argmax_k p(k|x)]``, of the
  labels' own kind, as ``nnclf predict`` gives them: int64 for integer labels (uint64 for
  labels past int64), bool for booleans, a string tensor for text labels, double for other
  numbers.

The names ``X``, ``label`` and ``probabilities`` are skl2onnx's, so the file is served as a
scikit-learn classifier converted by skl2onnx would be. The weights are stored as float32,
so probabilities agree with nnclf's to about 1e-7 and a label can differ only where two
classes' probabilities tie to float32 rounding.

:func:`recipe` is the graph as constants and nodes, which :mod:`nnclf.estimator.onnx` also
gives skl2onnx to convert an :class:`~nnclf.NNClassifier` inside a Pipeline.

The ``onnx`` package is needed (``pip install "nnclf[onnx]"``); without it, a one-line
:class:`~nnclf.errors.UsageError` says so. This module imports it only when called.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from nnclf.errors import GraphError, UsageError

__all__ = ["to_onnx", "save_onnx", "recipe", "ONNX_TRANSFERS", "OPSET", "IR_VERSION"]

OPSET = 17
"""The ONNX opset of exported graphs (onnxruntime 1.13 and later)."""
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
    x: str,
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
    x, label, probabilities : str
        The names of the input (N, d) and of the two outputs.
    fresh : callable
        ``fresh(hint)`` gives a name not used elsewhere in the graph.
    dtype : numpy float dtype
        That of the input and of the weights and probabilities.
    skl2onnx : bool
        Labels as skl2onnx declares a converted classifier's (booleans as int64).

    A transfer function without an ONNX operator in :data:`ONNX_TRANSFERS` is a GraphError.
    """
    net = model.network
    _check_transfers(net.transfers)
    built = _Builder(fresh)
    const, node = built.const, built.node
    h = x
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
        Input ``X`` float32 (N, d); outputs ``label`` (N,) and ``probabilities`` float32
        (N, K).
    """
    from nnclf.base.version import __version__

    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    constants, nodes = recipe(
        model, "X", "label", "probabilities", _namer({"X", "label", "probabilities"})
    )
    labels = _label_values(model.classes)
    label_type = (
        helper.np_dtype_to_tensor_dtype(labels.dtype)
        if labels.dtype != object
        else TensorProto.STRING
    )
    graph = helper.make_graph(
        [helper.make_node(op, ins, outs, name=outs[0], **attrs) for op, ins, outs, attrs in nodes],
        name,
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, model.n_features])],
        [
            helper.make_tensor_value_info("label", label_type, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, len(labels)]),
        ],
        initializer=[numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    proto = helper.make_model(
        graph,
        producer_name="nnclf",
        producer_version=__version__,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        doc_string=_describe(model),
    )
    names = list(model.feature_names) if model.feature_names is not None else None
    helper.set_model_props(
        proto, {"classes": json.dumps(labels.tolist()), "feature_names": json.dumps(names)}
    )
    onnx.checker.check_model(proto)
    return proto


def _describe(model) -> str:
    net = model.network
    return (
        f"nnclf softmax network: {net.n_features} inputs, hidden layers "
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
