"""skl2onnx converts an :class:`~nnclf.NNClassifier`, alone or in a Pipeline.

Contract
--------
:func:`register` (called as ``NNClassifier.register_onnx()``) makes skl2onnx convert an :class:`~nnclf.NNClassifier`, alone or as the
last step of a Pipeline, with skl2onnx's conventions for classifiers (a ZipMap of the
probabilities unless the option ``zipmap=False``), from the nodes of
:func:`nnclf.export.onnx.recipe`. It is one call, not an import side effect, because importing
skl2onnx takes over a second and ``import nnclf`` must stay quick; an NNClassifier fitted in a
process that has imported skl2onnx registers itself (:func:`register_if_loaded`). A model
whose graph takes one input per column (:func:`nnclf.export.onnx.per_column`: categorical
columns, or missing-value indicators) is not converted: a one-line UsageError
(:func:`check_convertible`) says to export it with ``clf.to_onnx()`` or ``nnclf export``;
a model of numeric columns fills a NaN with its column's training median. Given
float64 inputs, skl2onnx builds the graph in double (the weights too), which onnxruntime runs
for every transfer function but softplus (it has no double Softplus): give float32 inputs.
"""

from __future__ import annotations

import numpy as np

from nnclf.errors import UsageError
from nnclf.export.onnx import per_column, recipe

__all__ = ["register", "register_if_loaded", "check_convertible"]


def _shape_calculator(operator) -> None:
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    calculate_linear_classifier_output_shapes(operator)


def check_convertible(model) -> None:
    """A UsageError when skl2onnx cannot convert the fitted model: its graph takes one input
    per column (categorical columns, missing-value indicators), not skl2onnx's one matrix."""
    if per_column(model):
        raise UsageError(
            "skl2onnx cannot convert an NNClassifier fitted on categorical columns or on "
            "columns with missing values (its ONNX graph takes one input per column); "
            "export it with clf.to_onnx() or nnclf export instead"
        )


def _converter(scope, operator, container) -> None:
    """skl2onnx's converter of a fitted NNClassifier: the recipe's nodes into its container."""
    from onnx import TensorProto, helper
    from skl2onnx.common.data_types import guess_numpy_type

    x = operator.inputs[0]
    dtype = guess_numpy_type(x.type)
    if dtype not in (np.float32, np.float64):
        dtype = np.float32
        cast = scope.get_unique_variable_name("x_float")
        container.add_node(
            "Cast",
            [x.full_name],
            [cast],
            to=TensorProto.FLOAT,
            name=scope.get_unique_operator_name("Cast"),
        )
        x_name = cast
    else:
        x_name = x.full_name
    label, probabilities = (v.full_name for v in operator.outputs[:2])
    model = operator.raw_operator.model_
    check_convertible(model)
    constants, nodes = recipe(
        model,
        x_name,
        label,
        probabilities,
        scope.get_unique_variable_name,
        dtype,
        skl2onnx=True,
    )
    for name, value in constants.items():
        kind = (
            TensorProto.STRING
            if value.dtype == object
            else helper.np_dtype_to_tensor_dtype(value.dtype)
        )
        container.add_initializer(name, kind, list(value.shape), value.ravel().tolist())
    for op, ins, outs, attrs in nodes:
        container.add_node(op, ins, outs, name=scope.get_unique_operator_name(op), **attrs)


def register_if_loaded(estimator_class) -> None:
    """:func:`register`, when skl2onnx has been imported (and only then: importing it takes
    over a second). NNClassifier calls it after every fit, so that a script that imports
    skl2onnx before fitting needs no call of its own."""
    import sys

    if "skl2onnx" in sys.modules and not _REGISTERED:
        try:
            register(estimator_class)
        except (ImportError, UsageError):  # skl2onnx half-installed: leave it to the user
            pass


_REGISTERED: list = []


def register(estimator_class) -> None:
    """Teach skl2onnx to convert ``estimator_class``, :class:`~nnclf.NNClassifier` (idempotent;
    :meth:`NNClassifier.register_onnx <nnclf.NNClassifier.register_onnx>` calls it).

    After it, ``skl2onnx.to_onnx(estimator_or_pipeline, X[:1].astype(np.float32))`` converts
    a fitted NNClassifier, alone or in a Pipeline, as skl2onnx converts its own classifiers:
    outputs ``label`` and ``probabilities`` (a ZipMap by default; a float tensor (N, K) with
    ``options={NNClassifier: {"zipmap": False}}``). Needs skl2onnx (a UsageError says so).
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError:
        raise UsageError(
            "converting with skl2onnx needs it installed: pip install skl2onnx"
        ) from None
    update_registered_converter(
        estimator_class,
        "NnclfNNClassifier",
        _shape_calculator,
        _converter,
        overwrite=True,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )
    _REGISTERED.append(True)
