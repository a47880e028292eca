"""What a fitted :class:`~nnclf.NNClassifier` is: its TrainedModel, seen the scikit-learn way.

Contract
--------
:class:`FittedModel` is the estimator's fitted half, a mixin that reads everything from the
``model_`` attribute (a :class:`~nnclf.export.trained.TrainedModel`) that ``fit`` sets:

- prediction: ``predict``, ``predict_proba``, ``predict_log_proba``, each checking X as
  scikit-learn does (fitted, number of features, feature names) and delegating to the model;
- the fitted attributes: ``classes_``, ``network_``, ``standardizer_``, the parameter arrays
  ``W_``, ``b_``, ``V_``, ``gamma_`` of the notes' network and, for every depth, ``coefs_``
  and ``intercepts_`` (the network's own arrays, not copies);
- persistence: pickles hold the parameter arrays and the trainer's state, never the compiled
  graph; :meth:`FittedModel.save` and :meth:`FittedModel.load` use the CLI's model file;
  :meth:`FittedModel.to_onnx` exports the model for onnxruntime (:mod:`nnclf.export.onnx`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from nnclf.estimator.params import params_from_record, params_record
from nnclf.export.trained import TrainedModel
from nnclf.graph.network import PARAMS
from nnclf.training.trainer import Trainer

__all__ = ["FittedModel"]


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

        X : array-like of shape (n_samples, n_features) -> ndarray of shape (n_samples, K),
        column k for ``classes_[k]``.
        """
        return self._delegate("predict_log_proba", X)

    def predict_proba(self, X) -> np.ndarray:
        """p(k | x) = softmax(V g(Wx + b) + gamma)_k for each row of X.

        X : array-like of shape (n_samples, n_features) -> ndarray of shape (n_samples, K);
        rows sum to 1.
        """
        return self._delegate("predict_proba", X)

    def predict(self, X) -> np.ndarray:
        """The most probable label, ``classes_[argmax_k p(k | x)]``, for each row of X.

        X : array-like of shape (n_samples, n_features) -> ndarray of shape (n_samples,).
        """
        return self._delegate("predict", X)

    def _delegate(self, method: str, X) -> np.ndarray:
        """The model's ``method`` on X, checked as scikit-learn does (fitted, d, names)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return getattr(self.model_, method)(X)

    classes_ = _model_part("classes", "ndarray of shape (K,): the labels, in class order.")
    network_ = _model_part("network", "Network: the trained network.")
    standardizer_ = _model_part("standardizer", "Standardizer or None: applied to X first.")
    W_ = _model_part("W", "ndarray of shape (hidden_units, d).")
    b_ = _model_part("b", "ndarray of shape (hidden_units,).")
    V_ = _model_part("V", "ndarray of shape (K, hidden_units).")
    gamma_ = _model_part("gamma", "ndarray of shape (K,).")
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
        super().__setstate__(state)
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
        ``X`` of shape (n_samples, n_features), applies ``standardizer_`` if any, and has the
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
        clf.n_features_in_ = network.n_features
        if model.feature_names is not None:
            clf.feature_names_in_ = np.asarray(model.feature_names, dtype=object)
        return clf
