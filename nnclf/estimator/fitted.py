"""What a fitted :class:`~nnclf.NNClassifier` is: its TrainedModel, seen the scikit-learn way.

Contract
--------
:class:`FittedModel` is the estimator's fitted half, a mixin that reads everything from the
``model_`` attribute (a :class:`~nnclf.export.trained.TrainedModel`) that ``fit`` sets:

- reading X (:meth:`FittedModel._read_columns`, for fitting and prediction alike): checked as
  scikit-learn checks it (feature names, then shape, then the number of columns,
  ``n_features_in_``), and turned into the raw columns of a
  :class:`~nnclf.data.frame.Frame`: numbers as float64 with NaN where missing (infinity is
  an error), categorical columns as text (:func:`~nnclf.data.frame.category_text`, None
  where missing), never text coerced to numbers. Which columns are categorical is the
  ``categorical_features`` parameter's answer in a new fit and the model's preparation after
  it; a category the model never saw is a ``UserWarning`` per column (all-zero inputs);
- prediction: ``predict``, ``predict_proba``, ``predict_log_proba``, each reading X so and
  delegating to the model;
- the fitted attributes: ``classes_``, ``network_``, ``standardizer_``, the parameter arrays
  ``W_``, ``b_``, ``V_``, ``gamma_`` of the notes' network and, for every depth, ``coefs_``
  and ``intercepts_`` (the network's own arrays, not copies);
- persistence: pickles hold the parameter arrays and the trainer's state, never the compiled
  graph; :meth:`FittedModel.save` and :meth:`FittedModel.load` use the CLI's model file;
  :meth:`FittedModel.to_onnx` exports the model for onnxruntime (:mod:`nnclf.export.onnx`).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import replace

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted, validate_data

from nnclf.base.rules import shown
from nnclf.data.frame import Frame, text_column
from nnclf.data.preparation import Preparation
from nnclf.errors import DataError
from nnclf.estimator.params import (
    DEFAULTS,
    categorical_mask,
    params_from_record,
    params_record,
)
from nnclf.export.trained import TrainedModel
from nnclf.graph.network import PARAMS
from nnclf.training.trainer import Trainer

__all__ = ["FittedModel", "read_columns", "warn_unseen"]


def _model_part(name: str, doc: str) -> property:
    """A fitted attribute read from the estimator's TrainedModel (a parameter array for
    W, b, V, gamma: the network's own, not a copy)."""

    def get(self):
        check_is_fitted(self)  # NotFittedError is an AttributeError: hasattr is False
        model = self.__dict__["model_"]
        return model.parameter(name) if name in PARAMS else getattr(model, name)

    return property(get, doc=doc)


class FittedModel:
    """The fitted half of NNClassifier (see the module docstring)."""

    def __sklearn_is_fitted__(self) -> bool:
        return "model_" in self.__dict__

    # ------------------------------------------------------------------ prediction

    def predict_log_proba(self, X) -> np.ndarray:
        """log p(k | x), the graph's vertex q = LS(l), for each row of X.

        X : array-like or DataFrame of shape (n_samples, n_features_in_) -> ndarray of shape (n_samples, K),
        column k for ``classes_[k]``.
        """
        return self._delegate("predict_log_proba", X)

    def predict_proba(self, X) -> np.ndarray:
        """p(k | x) = softmax(V g(Wx + b) + gamma)_k for each row of X.

        X : array-like or DataFrame of shape (n_samples, n_features_in_) -> ndarray of shape (n_samples, K);
        rows sum to 1.
        """
        return self._delegate("predict_proba", X)

    def predict(self, X) -> np.ndarray:
        """The most probable label, ``classes_[argmax_k p(k | x)]``, for each row of X.

        X : array-like or DataFrame of shape (n_samples, n_features_in_) -> ndarray of shape (n_samples,).
        """
        return self._delegate("predict", X)

    def _delegate(self, method: str, X) -> np.ndarray:
        """The model's ``method`` on X, read as :meth:`_read_columns` reads it."""
        check_is_fitted(self)
        validate_data(self, X, reset=False, skip_check_array=True, ensure_2d=False)
        X = self._read_columns(X, reset=False)
        if isinstance(X, Frame):
            warn_unseen(self.model_.preparation, X)
        return getattr(self.model_, method)(X)

    def _read_columns(self, X, reset: bool) -> Frame | np.ndarray:
        """X as a Frame of raw columns (see the module docstring), after its feature names
        have been checked (``validate_data``): its shape checked and ``n_features_in_`` set
        (``reset``, a new fit) or compared. Its categorical columns are those
        ``categorical_features`` declares in a new fit, the model's preparation's after it.
        A model without a preparation (loaded from a file of nnclf 0.2) takes numbers
        without missing values, as a float64 matrix."""
        preparation = None if reset else self.model_.preparation
        if not reset and preparation is None:
            X = check_array(X, dtype=np.float64, input_name="X", estimator=self)
        table = _table(X, self)
        d = table.shape[1]
        if reset:
            self.n_features_in_ = d
        elif d != self.n_features_in_:  # scikit-learn's words, which its checks expect
            raise ValueError(
                f"X has {d} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        if preparation is not None:
            text = set(preparation.categorical)
            names = preparation.names
            mask = np.array([name in text for name in names], dtype=bool)
            why = "the model takes it as numbers, as in fit; give numbers"
            return _complete(read_columns(table, names, mask, why), preparation.missing)
        if not reset:
            return table
        named = hasattr(self, "feature_names_in_")
        names = tuple(map(str, self.feature_names_in_)) if named else _positional(d)
        from_dtype = _text_dtypes(table)
        mask = categorical_mask(self.categorical_features, names, from_dtype, named)
        frame = read_columns(table, names, mask, _numbers_why(self.categorical_features))
        return _complete(frame, self.missing)

    classes_ = _model_part("classes", "ndarray of shape (K,): the labels, in class order.")
    network_ = _model_part("network", "Network: the trained network.")
    standardizer_ = _model_part("standardizer", "Standardizer or None: applied to X first.")
    W_ = _model_part("W", "ndarray of shape (hidden_units, d).")
    b_ = _model_part("b", "ndarray of shape (hidden_units,).")
    V_ = _model_part("V", "ndarray of shape (K, hidden_units).")
    gamma_ = _model_part("gamma", "ndarray of shape (K,).")

    @property
    def is_categorical_(self) -> np.ndarray | None:
        """ndarray of bool of shape (n_features_in_,): the columns one-hot coded as
        categories; None when none is."""
        check_is_fitted(self)
        preparation = self.__dict__["model_"].preparation
        if preparation is None or not preparation.categorical:
            return None
        text = set(preparation.categorical)
        return np.array([name in text for name in preparation.names], dtype=bool)

    coefs_ = _model_part("coefs", "list of ndarray: W_1, ..., W_L, V, each (out, in).")
    intercepts_ = _model_part("intercepts", "list of ndarray: b_1, ..., b_L, gamma.")

    # ------------------------------------------------------------------ persistence

    def __getstate__(self):
        # The trainer holds compiled closures, which do not pickle: keep its state instead
        # (the TrainedModel pickles itself).
        state = dict(super().__getstate__())
        if state.get("_trainer") is not None:
            state["_trainer"] = state["_trainer"].state_dict()
        return state

    def __setstate__(self, state):
        # A parameter added since the pickle was made takes its default.
        super().__setstate__({**DEFAULTS, **state})
        if self.__dict__.get("_trainer") is not None:
            self._trainer = Trainer.from_state(self.model_.network, *self._trainer)

    def save(self, path):
        """Write the fitted model to ``path`` in the CLI's model file format.

        ``nnclf evaluate`` and ``nnclf predict`` accept the file; :meth:`load` reads it back.
        The file holds the parameters, classes, feature names and the estimator's
        parameters (as its ``config``), not the trainer's state.

        Returns
        -------
        pathlib.Path
        """
        check_is_fitted(self)
        return replace(self.model_, config=params_record(self.get_params(deep=False))).save(path)

    def to_onnx(self, path=None):
        """The fitted model as an ONNX model, written to ``path`` (atomically) when given.

        The graph (:func:`nnclf.export.onnx.to_onnx`) takes the raw features as float32
        ``X`` of shape (n_samples, n_features) (one input per column, float32 or string of
        shape (n_samples, 1), when the model one-hot codes or flags missing values: see
        :mod:`nnclf.export.onnx`), applies ``standardizer_`` if any, and has the
        outputs ``label`` of shape (n_samples,) (the labels of ``classes_``) and
        ``probabilities`` of shape (n_samples, K), float32. Needs the onnx package
        (``pip install "nnclf[onnx]"``).

        Returns
        -------
        onnx.ModelProto
        """
        from nnclf.export.onnx import save_onnx, to_onnx

        check_is_fitted(self)
        return to_onnx(self.model_) if path is None else save_onnx(self.model_, path)

    @classmethod
    def load(cls, path):
        """A fitted estimator from a model file, saved by :meth:`save` or ``nnclf train``.

        It predicts exactly as the saved model (applying the file's standardisation, if
        any, in ``standardizer_``). Its parameters come from the file's config where it
        records them (``hidden_units`` and ``transfer`` always match the network). The
        trainer's state is not in the file: ``warm_start`` and ``partial_fit`` continue
        from the parameters with the step counter t starting again at 1.
        """
        model = TrainedModel.load(path)
        network = model.network
        params = params_from_record(
            model.config, network.n_hidden, network.transfer, cls._parameter_constraints
        )
        # What the model does, whatever its record says.
        clf = cls(**dict(params, standardize=model.standardizer is not None))
        clf.model_ = model
        clf._trainer = None
        clf.n_features_in_ = model.n_columns
        if model.feature_names is not None:
            clf.feature_names_in_ = np.asarray(model.feature_names, dtype=object)
        return clf


# ----------------------------------------------------------------------------- reading X


def read_columns(table, names, text: np.ndarray, why: str) -> Frame:
    """The columns ``names`` of ``table`` (a DataFrame, or a 2-D array checked by
    :func:`_table`) as a Frame: those where ``text`` is true as text columns, the others as
    float64 (NaN where missing). A column meant for numbers that holds text is a DataError
    naming it, the value and its row, followed by ``why``."""
    if not text.any():
        return Frame.of_matrix(_numbers(table, names, why), names)
    if len(table) == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={table.shape}) while a minimum of 1 is required."
        )
    numeric = np.flatnonzero(~text)
    if len(numeric):
        block = _numbers(_pick(table, numeric), [names[j] for j in numeric], why)
    columns, k = {}, 0
    for j, name in enumerate(names):
        if text[j]:
            columns[name] = _text(_pick(table, [j]))
        else:
            columns[name], k = block[:, k], k + 1
    return Frame(columns)


def warn_unseen(preparation: Preparation, frame: Frame) -> None:
    """One UserWarning per categorical column of ``frame`` holding categories the
    preparation never saw in fit (as OneHotEncoder's ``handle_unknown="warn"``)."""
    for name, (count, values) in preparation.unseen(frame).items():
        listed = ", ".join(shown(v, 30) for v in values)
        warnings.warn(
            f"Found unknown categories in column {name!r}: {count} value"
            f"{'s' if count > 1 else ''} never seen in fit ({listed}); they are encoded "
            "as all zeros",
            UserWarning,
            stacklevel=4,
        )


def _complete(frame: Frame, missing: str) -> Frame:
    """``frame``, unless ``missing`` is "error" and a value is missing: a DataError naming
    the first such column and its row (the estimator's words for the preparation's check)."""
    if missing != "error":
        return frame
    for name in frame.missing_counts():
        values = frame.columns[name]
        gaps = np.array([v is None for v in values]) if frame.is_text(name) else np.isnan(values)
        raise DataError(
            f"X has a missing value (NaN or None) in column {name!r} at row "
            f"{int(np.argmax(gaps))} (0-based); fill it, or set missing='impute'"
        )
    return frame


def _is_dataframe(X) -> bool:
    return hasattr(X, "iloc") and hasattr(X, "dtypes") and getattr(X, "ndim", 0) == 2


def _table(X, estimator):
    """X itself when a pandas DataFrame; otherwise a 2-D array checked by scikit-learn
    (its messages for a 1-D, empty, sparse or complex X), of its own dtype: a list
    holding text becomes an object array (its numbers kept as numbers)."""
    if _is_dataframe(X):
        return X
    if isinstance(X, (list, tuple)):
        try:
            if np.asarray(X).dtype.kind in "USO":
                X = np.asarray(X, dtype=object)
        except ValueError:  # ragged: scikit-learn says so below
            pass
    return check_array(X, dtype=None, ensure_all_finite=False, input_name="X", estimator=estimator)


def _positional(d: int) -> tuple[str, ...]:
    """The names of the columns of an X without names (as the CLI's headerless tables)."""
    return tuple(f"x{j}" for j in range(d))


def _text_dtypes(table) -> np.ndarray:
    """ "from_dtype": a DataFrame's category, string and object columns (dtype kind "O");
    none of an array's columns."""
    if _is_dataframe(table):
        return np.array([getattr(dt, "kind", "") == "O" for dt in table.dtypes], dtype=bool)
    return np.zeros(table.shape[1], dtype=bool)


def _numbers_why(categorical_features) -> str:
    """Why a column that holds text was read as numbers in a new fit, and what to do."""
    if categorical_features is None:
        return (
            "categorical_features=None takes every column as numbers; let it be "
            "categorical (categorical_features='from_dtype', or a list naming it)"
        )
    if isinstance(categorical_features, str):  # "from_dtype" of an array
        return (
            "an array has no categorical columns by dtype; declare its index in "
            "categorical_features, or pass a DataFrame"
        )
    return "categorical_features does not declare it; add it to categorical_features"


def _pick(table, columns):
    return table.iloc[:, list(columns)] if _is_dataframe(table) else table[:, columns]


def _numbers(table, names, why: str) -> np.ndarray:
    """The columns of ``table`` as float64 of shape (n, d), NaN kept, infinity refused
    (scikit-learn's check_array, whose messages its estimator checks expect)."""
    try:
        return check_array(table, dtype=np.float64, ensure_all_finite="allow-nan", input_name="X")
    except ValueError as e:
        fault = _first_text(table, names)
        if fault is None or "convert" not in str(e):
            raise
        name, row, value = fault
        raise DataError(
            f"column {name!r} holds text ({shown(value, 40)} at row {row}) but {why}"
        ) from None


def _first_text(table, names):
    """(name, row, value) of the first value of ``table`` that is text and not a number."""
    for j, name in enumerate(names):
        column = _pick(table, [j])
        values = column.iloc[:, 0].tolist() if _is_dataframe(table) else column[:, 0].tolist()
        for row, value in enumerate(values):
            if isinstance(value, (str, bytes)):
                try:
                    float(value)
                except ValueError:
                    return name, row, value
    return None


def _text(column) -> np.ndarray:
    """One column (a one-column DataFrame or an (n, 1) array) as a text column: its values
    as :func:`~nnclf.data.frame.category_text` writes them, None where missing (NaN, None,
    pandas' NA)."""
    if _is_dataframe(column):
        series = column.iloc[:, 0]
        values = series.to_numpy(dtype=object, copy=True)  # never the caller's array
        values[series.isna().to_numpy()] = None
        return text_column(values)
    values = np.asarray(column[:, 0], dtype=object).copy()
    pandas = sys.modules.get("pandas")  # pandas' NA can only be there if pandas is loaded
    if pandas is not None:
        values[np.asarray(pandas.isna(values), dtype=bool)] = None
    return text_column(values)
