"""The notes' softmax network as a scikit-learn classifier.

Contract
--------
:class:`NNClassifier` is a thin scikit-learn front end to the machinery the CLI uses: the
same :class:`~nnclf.model.Network` (p(y | x) = softmax(V g(Wx + b) + gamma)), the same
computational graph and the same :class:`~nnclf.sgd.Trainer`. It adds only what
scikit-learn asks of a classifier:

- ``__init__`` stores its arguments; they are checked in ``fit`` against one declarative
  table, :attr:`NNClassifier._parameter_constraints`;
- labels of any type are mapped to class indices 0..K-1 (``classes_`` holds them in order),
  binary problems included: K = 2 outputs, always the notes' softmax;
- fitted state ends in ``_``; ``fit`` and ``partial_fit`` return ``self``;
- ``warm_start`` and ``partial_fit`` continue the trainer (parameters, step counter t,
  sampler, momentum) where the last call left it;
- pickling stores parameter arrays and the trainer's state, never the compiled graph;
- :meth:`NNClassifier.save` and :meth:`NNClassifier.load` read and write the CLI's model
  file (:class:`~nnclf.trained.TrainedModel`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    InvalidParameterError,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .data import train_test_split_stratified
from .functions import TRANSFERS
from .model import INITS, PARAMS, Network
from .schedules import SCHEDULES, make_schedule
from .errors import DivergenceError
from .settings import SAMPLING, EarlyStopping, SGDSettings
from .sgd import Trainer
from .trained import TrainedModel, encode_labels

__all__ = ["NNClassifier"]

DEFAULT_SCHEDULE_PARAMS = {"inverse_time": {"tau": 20000}}
"""Schedule parameters used when ``schedule_params`` leaves them out (the config's defaults)."""

_SEED_MAX = np.iinfo(np.int32).max


class NNClassifier(ClassifierMixin, BaseEstimator):
    """Softmax network p(y | x) = softmax(V g(Wx + b) + gamma) trained by the notes' SGD.

    The parameters mirror the ``model`` and ``train`` sections of an nnclf config, with the
    same names and defaults.

    Parameters
    ----------
    hidden_units : int, default=100
        m, the number of hidden units.
    transfer : str, default="tanh"
        The transfer function g: ``"tanh"``, ``"sigmoid"``, ``"relu"``, ``"identity"``,
        ``"softplus"`` (any name in :data:`nnclf.functions.TRANSFERS`).
    init : {"xavier", "he", "normal"}, default="xavier"
        Weight initialisation; biases start at zero.
    eta0 : float, default=0.05
        The initial step size eta^1.
    schedule : {"constant", "inverse_time", "invscaling", "step", "exponential", "cosine"}, \
default="inverse_time"
        How the step size eta^t changes with the step t (see :mod:`nnclf.schedules`).
    schedule_params : dict, default=None
        The schedule's own parameters besides ``eta0``, e.g. ``{"tau": 20000}`` for
        ``inverse_time`` (its default), ``{"factor": 0.5, "every": 1000}`` for ``step``,
        ``{"warmup": 500}`` for a linear warm-up with any schedule.
    epochs : int or None, default=20
        Passes over the training data in ``fit``; an epoch is ceil(n / batch_size) steps.
    steps : int or None, default=None
        T, the number of SGD steps in ``fit``; when given, it overrides ``epochs``.
    batch_size : int, default=1
        Examples per step; 1 is the notes' SGD, more averages the gradient over a minibatch.
    sampling : {"uniform", "shuffle"}, default="uniform"
        ``"uniform"`` picks each example uniformly at random (the notes);
        ``"shuffle"`` visits a new permutation of the data every epoch.
    momentum : float in [0, 1), default=0.0
    l2 : float >= 0, default=0.0
        Weight decay on W and V (the biases are not decayed).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified), evaluate the
        validation loss after every epoch, stop when it has not improved for ``patience``
        epochs, and keep the best parameters seen. Ignored by ``partial_fit``.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out for early stopping. As in scikit-learn's
        ``MLPClassifier`` (and unlike the CLI, which always honours the config's
        ``data.validation_fraction``), nothing is held out unless ``early_stopping=True``.
    patience : int, default=5
        Epochs without improvement of the validation loss before early stopping.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the order of the examples and the validation split.
        Pass an int for reproducible results. The default is scikit-learn's None (fresh
        randomness on every fit), where a config's ``seed`` defaults to 0.
    verbose : bool, default=False
        Show the trainer's progress bar (on stderr).
    warm_start : bool, default=False
        When true, ``fit`` continues from the current parameters and trainer state (the
        step counter t, the sampler, momentum) for another ``epochs`` (or ``steps``).

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
        The labels; output k of the network is ``classes_[k]``.
    n_features_in_ : int
        d, the number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (d,)
        The feature names, when ``fit`` was given a DataFrame with string column names.
    network_ : Network
        The trained network (its graph is what ``predict_proba`` runs).
    W_ : ndarray of shape (hidden_units, d)
    b_ : ndarray of shape (hidden_units,)
    V_ : ndarray of shape (K, hidden_units)
    gamma_ : ndarray of shape (K,)
        The parameters of ``network_`` (the same arrays, not copies).
    standardizer_ : Standardizer or None
        Applied to X before the network sees it. None for models fitted here; a model
        written by ``nnclf train`` and read with :meth:`load` keeps its standardisation.
    t_ : int
        SGD steps taken so far (the t of eta^t), over all ``fit``/``partial_fit`` calls
        that continued one another.
    n_iter_ : int
        Epochs run so far (``partial_fit`` counts one per call).
    loss_curve_ : list of float
        The mean training loss -log p(y | x) over each epoch's steps.
    validation_scores_ : list of float or None
        The validation accuracy after each epoch, with ``early_stopping``; else None.
    best_loss_ : float
        With ``early_stopping``, the best validation loss (its parameters are the ones
        kept); otherwise the lowest value in ``loss_curve_``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from nnclf import NNClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NNClassifier(hidden_units=10, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        "hidden_units": [Interval(Integral, 1, None, closed="left")],
        # A live view: a transfer registered after import is accepted too.
        "transfer": [StrOptions(TRANSFERS.keys())],
        "init": [StrOptions(set(INITS))],
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "schedule": [StrOptions(set(SCHEDULES))],
        "schedule_params": [dict, None],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "steps": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "sampling": [StrOptions(set(SAMPLING))],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(self, hidden_units=100, *, transfer="tanh", init="xavier", eta0=0.05,
                 schedule="inverse_time", schedule_params=None, epochs=20, steps=None,
                 batch_size=1, sampling="uniform", momentum=0.0, l2=0.0, early_stopping=False,
                 validation_fraction=0.1, patience=5, random_state=None, verbose=False,
                 warm_start=False):
        self.hidden_units = hidden_units
        self.transfer = transfer
        self.init = init
        self.eta0 = eta0
        self.schedule = schedule
        self.schedule_params = schedule_params
        self.epochs = epochs
        self.steps = steps
        self.batch_size = batch_size
        self.sampling = sampling
        self.momentum = momentum
        self.l2 = l2
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ------------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on X and y: ``epochs`` passes (or ``steps`` steps) of SGD.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any type (at least two distinct ones).

        Returns
        -------
        self
        """
        resume = self.warm_start and self.__sklearn_is_fitted__()
        if self.epochs is None and self.steps is None:
            raise ValueError("epochs and steps are both None; give epochs (passes over the "
                             "data) or steps (SGD updates) to say how long to train")
        schedule = self._schedule_spec()
        seeds = _draw_seeds(self.random_state)
        if not resume:
            self._forget_fit()
        X, y = self._validate_training_data(X, y, reset=not resume)
        if resume:
            classes, network, state = self._continued()
            X, targets = self._prepare(X), _encode(y, classes)
        else:
            classes, targets = _classes_and_targets(y)
            network, state = self._new_network(X.shape[1], len(classes), seeds["init"]), None
        X_val = y_val = None
        if self.early_stopping:
            X, X_val, targets, y_val = self._hold_out(X, targets, seeds["split"])
        run = self.steps if self.steps is not None else self.epochs * self._epoch_steps(X)
        self._train(classes, network, state, X, targets, X_val, y_val, run=run,
                    schedule=schedule, seed=seeds["sgd"], early_stopping=self.early_stopping)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """One epoch of SGD over X and y, continuing from the current state.

        The step counter t (and so eta^t), the sampler and momentum carry on from the
        previous ``fit`` or ``partial_fit``. ``epochs``, ``steps``, ``early_stopping`` and
        ``warm_start`` do not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (K,), default=None
            Every label y can take. Required on the first call, since a later batch may
            hold labels this one lacks; optional afterwards (and then it must not change).

        Returns
        -------
        self
        """
        first = not self.__sklearn_is_fitted__()
        if first and classes is None:
            raise ValueError(
                "partial_fit: pass classes=... (every label y can take, e.g. np.unique(y_all)) "
                "on the first call; the network needs to know all K classes from the start"
            )
        schedule = self._schedule_spec()
        seeds = _draw_seeds(self.random_state)
        X, y = self._validate_training_data(X, y, reset=first)
        if first:
            all_classes = np.unique(classes)
            _check_two_classes(all_classes, "classes")
            network, state = self._new_network(X.shape[1], len(all_classes), seeds["init"]), None
        else:
            if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
                raise ValueError(
                    f"partial_fit: classes={np.unique(classes).tolist()} differs from the "
                    f"classes of earlier calls, {self.classes_.tolist()}; they cannot change"
                )
            all_classes, network, state = self._continued()
            X = self._prepare(X)
        targets = _encode(y, all_classes)
        self._train(all_classes, network, state, X, targets, None, None,
                    run=self._epoch_steps(X), schedule=schedule, seed=seeds["sgd"],
                    early_stopping=False, one_evaluation=True)
        return self

    def _validate_training_data(self, X, y, reset):
        # multi_output=True lets a 2-D y through, so that several labels per example get
        # their own message; column_or_1d then warns about a column vector, as sklearn does.
        X, y = validate_data(self, X, y, reset=reset, dtype=np.float64, multi_output=True)
        if y.ndim == 2 and y.shape[1] > 1:
            raise ValueError(
                f"y has shape {y.shape}: several labels per example (multilabel or "
                "multioutput). NNClassifier predicts one label per example; wrap it in "
                "sklearn.multioutput.MultiOutputClassifier for several"
            )
        y = column_or_1d(y, warn=True)
        kind = type_of_target(y, input_name="y")
        if kind not in ("binary", "multiclass"):
            why = ("y looks like a regression target; use a regressor, or bin y into classes"
                   if kind.startswith("continuous") else "give labels as strings or integers")
            raise ValueError(f"Unknown label type: {kind}. NNClassifier needs class labels: {why}")
        return X, y

    def _schedule_spec(self) -> dict:
        """The schedule as the trainer takes it, checked now (so a bad one fails early)."""
        own = dict(self.schedule_params or {})
        for key, where in (("name", "schedule"), ("eta0", "eta0")):
            if key in own:
                raise ValueError(f"schedule_params: {key!r} is set by the {where} parameter; "
                                 "remove it from schedule_params")
        spec = {"name": self.schedule, "eta0": self.eta0,
                **DEFAULT_SCHEDULE_PARAMS.get(self.schedule, {}), **own}
        try:
            make_schedule(spec)
        except (TypeError, ValueError) as e:
            raise ValueError(f"schedule={self.schedule!r} with eta0={self.eta0!r} and "
                             f"schedule_params={self.schedule_params!r}: {e} (schedule_params "
                             "holds the schedule's parameters besides eta0)") from None
        return spec

    def _hold_out(self, X, targets, seed):
        try:
            return train_test_split_stratified(X, targets, self.validation_fraction, seed)
        except ValueError as e:
            raise ValueError(f"validation_fraction (early_stopping=True): {e}") from None

    def _new_network(self, n_features: int, n_classes: int, seed: int) -> Network:
        return Network(n_features, self.hidden_units, n_classes, self.transfer, self.init,
                       seed=seed)

    def _continued(self) -> tuple[np.ndarray, Network, dict | None]:
        """The classes, a copy of the network and the trainer state to continue from.

        Training a copy, committed at the end, leaves the estimator as it was if training
        is cut short by an exception.
        """
        net = self.network_
        for name, now, before in (("hidden_units", self.hidden_units, net.n_hidden),
                                  ("transfer", self.transfer, net.transfer)):
            if now != before:
                raise ValueError(
                    f"{name} is {now!r} but the fitted network has {before!r}, so training "
                    f"cannot continue; set warm_start=False (and call fit) to start afresh"
                )
        copy = Network.from_params(net.params, transfer=net.transfer)
        return self.classes_, copy, self._sgd_state

    def _epoch_steps(self, X) -> int:
        return -(-len(X) // self.batch_size)

    def _train(self, classes, network, state, X, targets, X_val, y_val, *, run, schedule,
               seed, early_stopping, one_evaluation=False) -> None:
        """``run`` more steps of the CLI's trainer, resumed from ``state`` when given (the
        sampler then keeps its own seed); the result becomes the fitted state."""
        t_before = int(state["t"]) if state is not None else 0
        T = t_before + run
        settings = SGDSettings(
            epochs=None, steps=T, batch_size=self.batch_size, sampling=self.sampling,
            schedule=schedule, momentum=self.momentum, l2=self.l2,
            # partial_fit: one history row per call, wherever the epoch grid of t falls.
            eval_every=T if one_evaluation else None,
            early_stopping=EarlyStopping(patience=self.patience) if early_stopping else None,
        )
        trainer = Trainer(network, settings, seed=state["seed"] if state is not None else seed,
                          progress="bar" if self.verbose else "none")
        if state is not None:
            trainer.load_state_dict(*_resume_state(state, trainer))
        try:
            trainer.fit(X, targets, X_val, y_val)
        except DivergenceError:
            # The trainer has put back the last finite parameters and says so; keep them.
            self._commit(classes, network, trainer, t_before, self._epoch_steps(X))
            raise
        self._commit(classes, network, trainer, t_before, self._epoch_steps(X))

    def _commit(self, classes, network, trainer, t_before, epoch_steps) -> None:
        """Make the trained network and the trainer's state the fitted state."""
        arrays, state = trainer.state_dict()
        history = state["history"]
        self.classes_ = classes
        self.network_ = network
        self.standardizer_ = getattr(self, "standardizer_", None)
        self._sgd_state = dict(state, arrays={k: v for k, v in arrays.items()
                                              if k.startswith("velocity_")})
        self.t_ = trainer.t
        self.n_iter_ = getattr(self, "n_iter_", 0) + math.ceil((trainer.t - t_before) / epoch_steps)
        self.loss_curve_ = [row["train_loss"] for row in history]
        if trainer.settings.early_stopping is not None:
            self.validation_scores_ = [row["val_accuracy"] for row in history]
            self.best_loss_ = trainer.best_score
        else:
            self.validation_scores_ = None
            finite = [v for v in self.loss_curve_ if math.isfinite(v)]
            self.best_loss_ = min(finite) if finite else None

    def _forget_fit(self) -> None:
        for name in ("classes_", "network_", "standardizer_", "t_", "n_iter_", "loss_curve_",
                     "validation_scores_", "best_loss_", "_sgd_state"):
            self.__dict__.pop(name, None)

    def __sklearn_is_fitted__(self) -> bool:
        return "network_" in self.__dict__

    # ------------------------------------------------------------------ prediction

    def _prepare(self, X) -> np.ndarray:
        return self.standardizer_.transform(X) if self.standardizer_ is not None else X

    def predict_log_proba(self, X) -> np.ndarray:
        """log p(k | x) for each row of X: the graph's vertex q = LS(l).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, K)
            Column k is for ``classes_[k]``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.network_.predict_log_proba(self._prepare(X))

    def predict_proba(self, X) -> np.ndarray:
        """p(k | x) = softmax(V g(Wx + b) + gamma)_k for each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, K)
            Rows sum to 1; column k is for ``classes_[k]``.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable label for each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        log_p = self.predict_log_proba(X)
        return self.classes_[np.argmax(log_p, axis=1)]

    @property
    def W_(self) -> np.ndarray:
        return self._param("W")

    @property
    def b_(self) -> np.ndarray:
        return self._param("b")

    @property
    def V_(self) -> np.ndarray:
        return self._param("V")

    @property
    def gamma_(self) -> np.ndarray:
        return self._param("gamma")

    def _param(self, name: str) -> np.ndarray:
        check_is_fitted(self)
        return self.network_.params[name]

    # ------------------------------------------------------------------ persistence

    def __getstate__(self):
        # The network's graph holds compiled closures, which do not pickle: store its
        # parameters instead and rebuild it on unpickling.
        state = dict(super().__getstate__())
        network = state.pop("network_", None)
        if network is not None:
            state["_network_params"] = {"transfer": network.transfer, **network.params}
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_network_params", None)
        super().__setstate__(state)
        if saved is not None:
            saved = dict(saved)
            transfer = saved.pop("transfer")
            self.network_ = Network.from_params(saved, transfer=transfer)

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
        names = getattr(self, "feature_names_in_", None)
        model = TrainedModel(
            network=self.network_,
            classes=np.asarray(self.classes_),
            feature_names=tuple(str(n) for n in names) if names is not None else None,
            standardizer=self.standardizer_,
            config=self._config_record(),
        )
        return model.save(path)

    def _config_record(self) -> dict:
        params = self.get_params(deep=False)
        if not (params["random_state"] is None or isinstance(params["random_state"], Integral)):
            params["random_state"] = None  # a RandomState cannot be written as JSON
        return params

    @classmethod
    def load(cls, path) -> "NNClassifier":
        """A fitted estimator from a model file, saved by :meth:`save` or ``nnclf train``.

        It predicts exactly as the saved model (applying the file's standardisation, if
        any, in ``standardizer_``). Its parameters come from the file's config where it
        records them (``hidden_units`` and ``transfer`` always match the network). The
        trainer's state is not in the file: ``warm_start`` and ``partial_fit`` continue
        from the parameters with the step counter t starting again at 1.
        """
        model = TrainedModel.load(path)
        clf = cls(**_params_from_config(model.config, model.network))
        clf.network_ = model.network
        clf.classes_ = np.asarray(model.classes)
        clf.standardizer_ = model.standardizer
        clf.n_features_in_ = model.network.n_features
        if model.feature_names is not None:
            clf.feature_names_in_ = np.asarray(model.feature_names, dtype=object)
        clf._sgd_state = None
        return clf


# ---------------------------------------------------------------------- helpers


def _draw_seeds(random_state) -> dict[str, int]:
    """Independent integer seeds for the initial weights, the sampler and the split."""
    rng = check_random_state(random_state)
    init, sgd, split = (int(s) for s in rng.randint(_SEED_MAX, size=3))
    return {"init": init, "sgd": sgd, "split": split}


def _classes_and_targets(y) -> tuple[np.ndarray, np.ndarray]:
    """The sorted labels and the class index 0..K-1 of each label in y."""
    classes, targets = np.unique(y, return_inverse=True)
    _check_two_classes(classes, "y")
    return classes, targets.astype(np.intp).reshape(-1)


def _check_two_classes(classes: np.ndarray, where: str) -> None:
    if len(classes) < 2:
        raise ValueError(
            f"{where} has only one class ({classes[0]!r}) but a classifier needs at least "
            "two; give training data with two or more distinct labels"
        )


def _encode(y, classes: np.ndarray) -> np.ndarray:
    """The class index of each label in y; a label outside ``classes`` is an error naming it."""
    return encode_labels(y, classes, lambda label: (
        f"y has label {label!r}, which is not one of the classes "
        f"{classes.tolist()}; the classes are fixed by the first fit or partial_fit"))


def _resume_state(state: Mapping, trainer: Trainer) -> tuple[dict, dict]:
    """The (arrays, state) pair that continues a kept state in a new ``trainer``.

    The parameters are the trainer's network's own; momentum starts at zero if the last run
    had none; early stopping starts afresh (its best score belonged to another call's
    validation set). ``Trainer.load_state_dict`` refuses a state saved under other settings,
    which guards a CLI resume; here other settings (a larger T, at least) are the point, so
    the state is given the new trainer's settings.
    """
    params = trainer.network.params
    arrays = {f"param_{k}": params[k] for k in PARAMS}
    arrays.update(state["arrays"])
    for k in PARAMS:
        arrays.setdefault(f"velocity_{k}", np.zeros_like(params[k]))
    state = {k: v for k, v in state.items() if k != "arrays"}
    state.update(best_score=None, best_step=None, bad_evals=0,
                 settings=trainer.state_dict()[1]["settings"])
    return arrays, state


def _params_from_config(config, network: Network) -> dict:
    """The estimator parameters a model file's config records (only the valid ones).

    A file saved by :meth:`NNClassifier.save` records them by name; for one written by
    ``nnclf train`` see :func:`_params_from_run_config`. ``hidden_units`` and ``transfer``
    are the network's own.
    """
    names = NNClassifier._parameter_constraints
    config = config if isinstance(config, Mapping) else {}
    saved_here = bool(config) and set(config) <= set(names)
    found = dict(config) if saved_here else _params_from_run_config(config)
    found.update(hidden_units=network.n_hidden, transfer=network.transfer)
    return {k: v for k, v in found.items() if k in names and _is_valid(k, v)}


def _params_from_run_config(config: Mapping) -> dict:
    """Estimator parameters from the config of an ``nnclf train`` run (see
    :mod:`nnclf.config`): its ``model`` and ``train`` sections use the same names, with
    ``train.schedule`` a mapping {name, eta0, ...} and ``train.early_stopping`` a mapping
    or null; ``data.validation_fraction`` and ``seed`` (for ``random_state``) complete it."""
    def section(name) -> Mapping:
        part = config.get(name)
        return part if isinstance(part, Mapping) else {}

    found = {**section("model"), **section("train")}
    schedule = found.pop("schedule", None)
    if isinstance(schedule, Mapping) and "name" in schedule:
        found.update(schedule=schedule["name"],
                     schedule_params={k: v for k, v in schedule.items()
                                      if k not in ("name", "eta0")})
        if "eta0" in schedule:
            found["eta0"] = schedule["eta0"]
    elif isinstance(schedule, str):
        found["schedule"] = schedule
    rule = found.pop("early_stopping", None)
    found["early_stopping"] = isinstance(rule, Mapping) or rule is True
    if isinstance(rule, Mapping) and "patience" in rule:
        found["patience"] = rule["patience"]
    if "validation_fraction" in section("data"):
        found["validation_fraction"] = section("data")["validation_fraction"]
    if "seed" in config:
        found["random_state"] = config["seed"]
    return found


def _is_valid(name: str, value) -> bool:
    try:
        validate_parameter_constraints(
            {name: NNClassifier._parameter_constraints[name]}, {name: value},
            caller_name="NNClassifier")
    except InvalidParameterError:
        return False
    return True
