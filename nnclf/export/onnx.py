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
- ``label``, shape (N,): the class labels themselves, ``classes[argmax_k p(k|x)]`` (int64
  for integer labels, a string tensor for text labels, double for other numbers).

The names ``X``, ``label`` and ``probabilities`` are skl2onnx's, so the file is served as a
scikit-learn classifier converted by skl2onnx would be. The weights are stored as float32,
so probabilities agree with nnclf's to about 1e-7 and a label can differ only where two
classes' probabilities tie to float32 rounding.

:func:`register` makes skl2onnx convert an :class:`~nnclf.NNClassifier`, alone or as the
last step of a Pipeline, with skl2onnx's conventions for classifiers (a ZipMap of the
probabilities unless the option ``zipmap=False``). It is one call, not an import side effect,
because importing skl2onnx takes over a second and ``import nnclf`` must stay quick. Given
float64 inputs, skl2onnx builds the graph in double (the weights too), which onnxruntime runs
for every transfer function but softplus (it has no double Softplus): give float32 inputs.

The ``onnx`` package is needed (``pip install "nnclf[onnx]"``); without it, a one-line
:class:`~nnclf.errors.UsageError` says so. This module imports it only when called.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np

from nnclf.errors import GraphError, UsageError

__all__ = ["to_onnx", "save_onnx", "register", "register_if_loaded", "ONNX_TRANSFERS", "OPSET",
           "IR_VERSION"]

OPSET = 17
"""The ONNX opset of exported graphs (onnxruntime 1.13 and later)."""
IR_VERSION = 8
"""The ONNX IR version of exported models (onnxruntime 1.10 and later)."""

ONNX_TRANSFERS: dict[str, str] = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu",
                                  "identity": "Identity", "softplus": "Softplus"}
"""The ONNX operator (one input, default domain) of each transfer function g, by name. A
transfer function registered with :func:`nnclf.graph.functions.register_transfer` is exported
once its operator is added here, e.g. ``ONNX_TRANSFERS["elu"] = "Elu"``."""

INSTALL = 'pip install "nnclf[onnx]"'

# One node of the recipe: (op_type, inputs, outputs, attributes).
Node = tuple[str, list[str], list[str], dict]


def _onnx():
    """The onnx package, or a UsageError naming the extra that installs it."""
    try:
        import onnx
    except ImportError:
        raise UsageError(f"ONNX export needs the onnx package; install it with: {INSTALL}") \
            from None
    return onnx


def _label_values(classes: np.ndarray) -> np.ndarray:
    """The classes as the ``label`` output holds them: int64, str (object) or float64."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        return classes.astype(np.float64)
    return np.array([str(c) for c in classes.tolist()], dtype=object)


def _recipe(model, x: str, label: str, probabilities: str, fresh: Callable[[str], str],
           dtype=np.float32) -> tuple[dict[str, np.ndarray], list[Node]]:
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

    A transfer function without an ONNX operator in :data:`ONNX_TRANSFERS` is a GraphError.
    """
    net = model.network
    missing = [t for t in net.transfers if t not in ONNX_TRANSFERS]
    if missing:
        raise GraphError(
            f"transfer function {missing[0]!r} has no ONNX form; the export knows "
            f"{', '.join(ONNX_TRANSFERS)} (add its operator to "
            "nnclf.export.onnx.ONNX_TRANSFERS)")
    constants, nodes = {}, []

    def const(hint: str, value) -> str:
        name = fresh(hint)
        constants[name] = value
        return name

    def node(op: str, inputs: list[str], hint: str, out: str | None = None, **attrs) -> str:
        out = out or fresh(hint)
        nodes.append((op, inputs, [out], attrs))
        return out

    h = x
    if model.standardizer is not None:
        h = node("Sub", [h, const("mean", model.standardizer.mean_.astype(dtype))], "centred")
        h = node("Div", [h, const("scale", model.standardizer.scale_.astype(dtype))], "x_std")
    names = net.param_names
    for k, g in enumerate(net.transfers):
        W, b = (net.params[n].astype(dtype) for n in names[2 * k:2 * k + 2])
        z = node("Gemm", [h, const(names[2 * k], W), const(names[2 * k + 1], b)], "z", transB=1)
        h = node(ONNX_TRANSFERS[g], [z], "h")
    l = node("Gemm", [h, const("V", net.params["V"].astype(dtype)),
                      const("gamma", net.params["gamma"].astype(dtype))], "l", transB=1)
    node("Softmax", [l], "p", probabilities, axis=1)
    best = node("ArgMax", [probabilities], "class_index", axis=1, keepdims=0)
    node("Gather", [const("classes", _label_values(model.classes)), best], "label", label, axis=0)
    return constants, nodes


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

    constants, nodes = _recipe(model, "X", "label", "probabilities",
                              _namer({"X", "label", "probabilities"}))
    labels = _label_values(model.classes)
    label_type = helper.np_dtype_to_tensor_dtype(labels.dtype) if labels.dtype != object \
        else TensorProto.STRING
    graph = helper.make_graph(
        [helper.make_node(op, ins, outs, name=outs[0], **attrs) for op, ins, outs, attrs in nodes],
        name,
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, model.n_features])],
        [helper.make_tensor_value_info("label", label_type, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                       [None, len(labels)])],
        initializer=[numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    proto = helper.make_model(graph, producer_name="nnclf", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, doc_string=_describe(model))
    names = list(model.feature_names) if model.feature_names is not None else None
    helper.set_model_props(proto, {"classes": json.dumps(labels.tolist()),
                                   "feature_names": json.dumps(names)})
    onnx.checker.check_model(proto)
    return proto


def _describe(model) -> str:
    net = model.network
    return (f"nnclf softmax network: {net.n_features} inputs, hidden layers "
            f"{list(net.layers)} ({', '.join(net.transfers)}), {net.n_classes} classes"
            f"{', standardised inputs' if model.standardizer is not None else ''}")


def save_onnx(model, path):
    """Write :func:`to_onnx` of ``model`` to ``path`` atomically (a reader sees the old
    file or the whole new one); returns the ``onnx.ModelProto`` written."""
    from nnclf.base.archive import atomic_write

    proto = to_onnx(model)
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return proto


# ----------------------------------------------------------------------------- skl2onnx


def _shape_calculator(operator) -> None:
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    calculate_linear_classifier_output_shapes(operator)


def _converter(scope, operator, container) -> None:
    """skl2onnx's converter of a fitted NNClassifier: the recipe's nodes into its container."""
    from onnx import TensorProto, helper
    from skl2onnx.common.data_types import guess_numpy_type

    x = operator.inputs[0]
    dtype = guess_numpy_type(x.type)
    if dtype not in (np.float32, np.float64):
        dtype = np.float32
        cast = scope.get_unique_variable_name("x_float")
        container.add_node("Cast", [x.full_name], [cast], to=TensorProto.FLOAT,
                           name=scope.get_unique_operator_name("Cast"))
        x_name = cast
    else:
        x_name = x.full_name
    label, probabilities = (v.full_name for v in operator.outputs[:2])
    constants, nodes = _recipe(operator.raw_operator.model_, x_name, label, probabilities,
                              scope.get_unique_variable_name, dtype)
    for name, value in constants.items():
        kind = TensorProto.STRING if value.dtype == object else \
            helper.np_dtype_to_tensor_dtype(value.dtype)
        container.add_initializer(name, kind, list(value.shape), value.ravel().tolist())
    for op, ins, outs, attrs in nodes:
        container.add_node(op, ins, outs, name=scope.get_unique_operator_name(op), **attrs)


def register_if_loaded() -> None:
    """:func:`register`, when skl2onnx has been imported (and only then: importing it takes
    over a second). NNClassifier calls it after every fit, so that a script that imports
    skl2onnx before fitting needs no call of its own."""
    import sys

    if "skl2onnx" in sys.modules and not _REGISTERED:
        try:
            register()
        except (ImportError, UsageError):  # skl2onnx half-installed: leave it to the user
            pass


_REGISTERED: list = []


def register() -> None:
    """Teach skl2onnx to convert :class:`~nnclf.NNClassifier` (idempotent).

    After it, ``skl2onnx.to_onnx(estimator_or_pipeline, X[:1].astype(np.float32))`` converts
    a fitted NNClassifier, alone or in a Pipeline, as skl2onnx converts its own classifiers:
    outputs ``label`` and ``probabilities`` (a ZipMap by default; a float tensor (N, K) with
    ``options={NNClassifier: {"zipmap": False}}``). Needs skl2onnx (a UsageError says so).
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError:
        raise UsageError("converting with skl2onnx needs it installed: pip install skl2onnx") \
            from None
    from nnclf.estimator.classifier import NNClassifier

    update_registered_converter(NNClassifier, "NnclfNNClassifier", _shape_calculator,
                                _converter, overwrite=True,
                                options={"zipmap": [True, False, "columns"],
                                         "nocl": [True, False]})
    _REGISTERED.append(True)
