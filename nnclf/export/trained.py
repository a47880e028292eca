"""A trained classifier: the network plus what turns raw inputs and labels into its terms.

Contract
--------
:class:`TrainedModel` bundles a :class:`~nnclf.graph.network.Network` with the label set (class k of
the network is ``classes[k]``), the training feature names and the standardisation fitted on
the training data. It predicts from raw features, and it is what a model file holds:
``TrainedModel.save(path)`` and ``TrainedModel.load(path)`` use :mod:`nnclf.export.modelfile`, so a
model written by ``nnclf train`` and one saved by :class:`nnclf.NNClassifier` are the same
kind of file. A network of several hidden layers is stored with its layer sizes
(``layers``) and its transfer functions (one name, or one per layer) in the metadata; files
written before deeper networks existed (W, b, V, gamma and one ``transfer``) load and predict
as they did. It pickles (its network as parameters and transfer functions, since the compiled
graph does not), and :class:`nnclf.NNClassifier` delegates prediction, label encoding and
standardisation to the one it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nnclf.base.rules import check_fields
from nnclf.config.settings import DTYPES, ModelConfig
from nnclf.data.preparation import Preparation
from nnclf.data.preprocessing import Standardizer
from nnclf.errors import DataError, ModelFileError
from nnclf.export.modelfile import load_model, save_model
from nnclf.graph.network import Network, layers_of
from nnclf.graph.transfers import TRANSFERS

__all__ = ["TrainedModel", "encode_labels"]


def encode_labels(y, classes: np.ndarray, unknown: Callable[[object], str]) -> np.ndarray:
    """The class index 0..K-1 of each label in y (``classes[k]`` is class k).

    A label outside ``classes`` raises ``DataError(unknown(label))`` for the first such
    label of y.
    """
    values, inverse = np.unique(np.asarray(y), return_inverse=True)
    lookup = {c: k for k, c in enumerate(classes.tolist())}
    missing = {v for v in values.tolist() if v not in lookup}
    if missing:
        first = next(v for v in np.asarray(y).ravel().tolist() if v in missing)
        raise DataError(unknown(first))
    codes = np.array([lookup[v] for v in values.tolist()], dtype=np.intp)
    return codes[inverse.reshape(-1)]


@dataclass
class TrainedModel:
    """A network with its classes, feature names and input standardisation.

    Attributes
    ----------
    network : Network
    classes : ndarray, shape (K,)
        The label of each of the network's classes, in order.
    feature_names : tuple of str, optional
        The raw columns the model takes (by name, in order).
    standardizer : Standardizer, optional
        Applied to the network's raw inputs (after the preparation) before it sees them.
    preparation : Preparation, optional
        Imputation and one-hot coding of the raw columns (:mod:`nnclf.data.preparation`);
        None in models made before it existed, whose inputs are the columns themselves.
    config : dict, optional
        The resolved configuration that produced the model (for the record).
    data : dict, optional
        The fingerprint of the data it was trained on (:func:`nnclf.data.fingerprints.fingerprint`), so
        that a test split re-created from its config can be checked against it.
    """

    network: Network
    classes: np.ndarray
    feature_names: tuple[str, ...] | None = None
    standardizer: Standardizer | None = None
    preparation: Preparation | None = None
    config: dict | None = field(default=None, repr=False)
    data: dict | None = field(default=None, repr=False)

    @classmethod
    def untrained(
        cls, model: ModelConfig, n_features: int, classes: np.ndarray, seed, **kw
    ) -> TrainedModel:
        """A model with a new network for ``model``'s settings: d = ``n_features`` inputs,
        K = len(classes) outputs, initialised from ``seed``. ``kw``: the other fields."""
        network = Network(
            n_features,
            model.hidden_units,
            len(classes),
            model.transfer,
            model.init,
            model.init_scale,
            seed=seed,
            dtype=model.dtype,
        )
        return cls(network, np.asarray(classes), **kw)

    @property
    def n_features(self) -> int:
        """The network's inputs, d (more than the raw columns when some are one-hot coded)."""
        return self.network.n_features

    @property
    def n_columns(self) -> int:
        """The raw columns the model takes."""
        return len(self.preparation.columns) if self.preparation is not None else self.n_features

    @property
    def input_names(self) -> tuple[str, ...] | None:
        """The names of the network's d inputs (``island=Biscoe``, ``x_missing``, ...)."""
        if self.preparation is not None:
            return self.preparation.input_names
        return self.feature_names

    def parameter(self, name: str) -> np.ndarray:
        """The network's parameter ``name`` (its own array); an AttributeError saying to use
        :attr:`coefs` and :attr:`intercepts` for W or b of a network with several layers."""
        params = self.network.params
        if name not in params:
            raise AttributeError(
                f"{name}_: the network has {len(self.network.layers)} hidden layers "
                f"(hidden_units={list(self.network.layers)}), so there is no single {name}; "
                "use coefs_ and intercepts_"
            )
        return params[name]

    @property
    def coefs(self) -> list[np.ndarray]:
        """The weight matrices [W_1, ..., W_L, V] (one layer: [W, V]), each (out, in)."""
        return [self.network.params[k] for k in self.network.param_names[::2]]

    @property
    def intercepts(self) -> list[np.ndarray]:
        """The biases [b_1, ..., b_L, gamma] (one layer: [b, gamma])."""
        return [self.network.params[k] for k in self.network.param_names[1::2]]

    def prepare(self, X) -> np.ndarray:
        """Raw features -> the network's inputs: prepared (imputed, one-hot coded) when the
        model keeps a preparation, then standardised when it keeps a standardiser. X: a
        matrix of the raw columns in order, or a :class:`~nnclf.data.frame.Frame` of them."""
        if self.preparation is not None:
            X = self.preparation.transform(X)
            return self.standardizer.transform(X) if self.standardizer is not None else X
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise DataError(
                f"the data has {X.shape[-1] if X.ndim else 0} features but the model was "
                f"trained on {self.n_features}; give data with the training features"
            )
        return self.standardizer.transform(X) if self.standardizer is not None else X

    def predict_log_proba(self, X) -> np.ndarray:
        """log p(k | x) for every row of raw features X (the graph's vertex q). Shape (n, K)."""
        return self.network.predict_log_proba(self.prepare(X))

    def predict_proba(self, X) -> np.ndarray:
        """p(k | x) for every row of raw features X. Shape (n, K)."""
        return self.network.predict_proba(self.prepare(X))

    def predict(self, X) -> np.ndarray:
        """The most probable label for every row of raw features X. Shape (n,)."""
        return self.classes[self.network.predict(self.prepare(X))]

    def encode(self, y, hint: str = "") -> np.ndarray:
        """Labels y, shape (n,) -> class indices 0..K-1, shape (n,).

        An unseen label is a DataError naming it and the known ones, followed by ``hint``.
        """
        known = ", ".join(map(str, self.classes.tolist()))
        return encode_labels(
            y,
            self.classes,
            lambda label: (
                f"label {label!r} was never seen in training; the model knows {known}{hint}"
            ),
        )

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        network = state.pop("network")
        state["network_params"] = {
            "transfer": network.transfer,
            "dtype": network.dtype.name,
            **network.params,
        }
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        params = dict(state.pop("network_params"))
        transfer, dtype = params.pop("transfer"), params.pop("dtype", "float64")
        self.__dict__.update(state, network=Network.from_params(params, transfer, dtype))

    def metadata(self) -> dict:
        return {
            "classes": self.classes.tolist(),
            "feature_names": list(self.feature_names) if self.feature_names is not None else None,
            "standardizer": self.standardizer.to_dict() if self.standardizer is not None else None,
            "preparation": self.preparation.to_dict() if self.preparation is not None else None,
            "transfer": self.network.transfer,
            "layers": list(self.network.layers),
            "dtype": self.network.dtype.name,
            "config": self.config,
            "data": self.data,
        }

    def save(self, path):
        """Write the model file (atomically; see :func:`nnclf.export.modelfile.save_model`)."""
        return save_model(path, self.network.params, self.metadata())

    @classmethod
    def load(cls, path) -> TrainedModel:
        """Read a model file; never runs code from it. Metadata of a wrong type, an unknown
        transfer function or sizes that do not fit the weight matrices are a ModelFileError
        naming the file and the field."""
        params, meta = load_model(path)

        def error(problem: str) -> ModelFileError:
            return ModelFileError(f"model file '{path}': {problem}")

        check_fields(meta, _FIELDS, error)
        network = Network.from_params(
            params, _transfer(meta, layers_of(params), error), _dtype(meta, error)
        )
        if meta.get("layers") is not None and tuple(meta["layers"]) != network.layers:
            raise error(
                f"its 'layers' {meta['layers']} do not match its weight matrices' "
                f"{list(network.layers)}; the file was edited or damaged: use the "
                "file nnclf wrote"
            )
        classes, names = labels_array(meta["classes"]), meta.get("feature_names")
        if len(classes) != network.n_classes:
            raise error(f"{len(classes)} class labels for {network.n_classes} outputs")
        preparation = _preparation(meta.get("preparation"), names, network.n_features, error)
        width = network.n_features if preparation is None else len(preparation.columns)
        if names is not None and len(names) != width:
            raise error(f"{len(names)} feature names for W's {network.n_features} inputs")
        return cls(
            network=network,
            classes=classes,
            feature_names=tuple(names) if names is not None else None,
            standardizer=_standardizer(meta.get("standardizer"), network.n_features, error),
            preparation=preparation,
            config=meta.get("config"),
            data=meta.get("data"),
        )


def labels_array(labels: list) -> np.ndarray:
    """The labels a model file's JSON holds as an array of their own kind.

    Integers stay integers exactly: int64 when they fit, else uint64 (labels up to 2**64 - 1,
    which ``np.asarray`` would turn into rounded floats), else objects.
    """
    if labels and all(type(c) is int for c in labels):
        for dtype in (np.int64, np.uint64):
            info = np.iinfo(dtype)
            if info.min <= min(labels) and max(labels) <= info.max:
                return np.array(labels, dtype=dtype)
        return np.array(labels, dtype=object)
    return np.asarray(labels)


_FIELDS = {
    "classes": "labels",
    "feature_names": "texts?",
    "standardizer": "mapping?",
    "preparation": "mapping?",
    "transfer": "transfers?",
    "layers": "sizes?",
    "dtype": "text?",
    "config": "mapping?",
    "data": "mapping?",
}
"""What each field of a model file's metadata must be (see :func:`check_fields`)."""


def _transfer(meta: dict, n_layers: int, error):
    """The file's transfer function(s), each registered, one per layer if a list."""
    transfer = "tanh" if meta.get("transfer") is None else meta["transfer"]
    names = [transfer] if isinstance(transfer, str) else transfer
    for name in names:
        if name not in TRANSFERS:
            raise error(
                f"its transfer function {name!r} is not registered; register it "
                "(nnclf.graph.register_transfer) before loading the model"
            )
    if len(names) not in (1, n_layers):
        raise error(
            f"its 'transfer' lists {len(names)} functions for {n_layers} hidden "
            f"layer{'s' if n_layers > 1 else ''}; the file was edited or damaged: use "
            "the file nnclf wrote"
        )
    return transfer


def _dtype(meta: dict, error) -> str:
    dtype = "float64" if meta.get("dtype") is None else meta["dtype"]
    if ModelConfig.RULES["dtype"].problem(dtype) is not None:  # the config's own rule
        raise error(f"its 'dtype' is {dtype!r}, not one of {', '.join(DTYPES)}")
    return dtype


def _standardizer(saved: dict | None, d: int, error) -> Standardizer | None:
    if saved is None:
        return None
    check_fields(
        saved,
        {"mean": "numbers", "scale": "numbers"},
        lambda problem: error(f"in its standardizer, {problem.removeprefix('its ')}"),
    )
    if not len(saved["mean"]) == len(saved["scale"]) == d or min(saved["scale"], default=1) <= 0:
        raise error(
            f"its standardizer must hold {d} means and {d} scales > 0 (one per input "
            "of W); the file was edited or damaged: use the file nnclf wrote"
        )
    return Standardizer.from_dict(saved)


def _preparation(saved: dict | None, names, d: int, error) -> Preparation | None:
    """The file's preparation, checked against its feature names and W's d inputs."""
    if saved is None:
        return None
    try:
        preparation = Preparation.from_dict(saved)
    except ValueError as e:
        raise error(f"its preparation is damaged ({e}); use the file nnclf wrote") from None
    if preparation.width != d or (names is not None and list(names) != list(preparation.names)):
        raise error(
            f"its preparation makes {preparation.width} inputs of columns "
            f"{list(preparation.names)[:5]} but W has {d} inputs for feature names "
            f"{list(names or [])[:5]}; the file was edited or damaged: use the file nnclf wrote"
        )
    return preparation
