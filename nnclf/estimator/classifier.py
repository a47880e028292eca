"""The notes' softmax network as a scikit-learn classifier.

Contract
--------
:class:`NNClassifier` is a thin scikit-learn front end to the machinery the CLI uses: the
same :class:`~nnclf.graph.network.Network` (p(y | x) = softmax(V g(Wx + b) + gamma)) and graph, the
same :class:`~nnclf.training.trainer.Trainer`, the same :class:`~nnclf.export.trained.TrainedModel`. It adds
only what scikit-learn asks of a classifier:

- ``__init__`` stores its arguments; ``fit`` checks them against one declarative table,
  :attr:`NNClassifier._parameter_constraints`, and :mod:`nnclf.estimator.params` maps them
  to the config's settings;
- labels of any type are class indices 0..K-1 (``classes_`` holds them in order), binary
  problems included: K = 2 outputs, always the notes' softmax;
- fitted state ends in ``_``; ``fit`` and ``partial_fit`` return ``self``; the fitted
  ``model_`` (a TrainedModel) predicts, encodes labels and standardises inputs;
- ``warm_start`` and ``partial_fit`` continue the trainer (parameters, step counter t, sampler,
  optimizer state, average) where the last call left it (:meth:`~nnclf.training.trainer.Trainer.extend`);
- prediction, the fitted attributes, pickling, :meth:`~nnclf.estimator.fitted.FittedModel.save` and
  :meth:`~nnclf.estimator.fitted.FittedModel.load` (the CLI's model file) are the fitted half,
  :class:`~nnclf.estimator.fitted.FittedModel`, in :mod:`nnclf.estimator.fitted`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_array, check_consistent_length
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d, validate_data

from nnclf.base.archive import to_json
from nnclf.config.settings import Config, SGDSettings
from nnclf.data.frame import Frame
from nnclf.data.preparation import prepared
from nnclf.data.sources import label_text
from nnclf.errors import DataError, DivergenceError
from nnclf.estimator.fitted import FittedModel, warn_unseen
from nnclf.estimator.onnx import register, register_if_loaded
from nnclf.estimator.params import (
    CONSTRAINTS,
    DEFAULTS,
    check_callbacks,
    check_same_network,
    draw_seeds,
    to_config,
    validation_split,
)
from nnclf.export.trained import TrainedModel
from nnclf.graph.network import Network
from nnclf.training.trainer import Trainer
from nnclf.training.weights import estimator_weights

__all__ = ["NNClassifier"]


class NNClassifier(FittedModel, ClassifierMixin, BaseEstimator):
    """Softmax network p(y | x) = softmax(V g(Wx + b) + gamma) trained by the notes' SGD.

    The parameters mirror the ``model`` and ``train`` sections of an nnclf config, with the
    same names and defaults.

    Parameters
    ----------
    hidden_units : int, or tuple or list of int, default=100
        m, the number of hidden units; or (m_1, ..., m_L), 1 to 10 hidden layers
        (:mod:`nnclf.graph.network`). ``(100,)`` is the same network as ``100``.
    transfer : str, or tuple or list of str, default="tanh"
        The transfer function g: ``"tanh"``, ``"sigmoid"``, ``"relu"``, ``"identity"``,
        ``"softplus"`` (any name in :data:`nnclf.graph.TRANSFERS`); or one per layer.
    init : {"xavier", "he", "normal"}, default="xavier"
        Weight initialisation; biases start at zero.
    eta0 : float, default=0.05
        The initial step size eta^1.
    schedule : {"constant", "inverse_time", "invscaling", "step", "exponential", "cosine", \
"plateau"}, default="inverse_time"
        How the step size eta^t changes with the step t (see :mod:`nnclf.training.schedules`);
        ``"plateau"`` lowers it when the loss on ``validation_fraction`` stalls (fit only).
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
    optimizer : {"sgd", "adagrad", "adam"}, default="sgd"
        The update rule (:mod:`nnclf.training.optimizers`); momentum is sgd's.
    optimizer_params : dict, default=None
        Its parameters where not the defaults, e.g. ``{"beta1": 0.8}`` for adam.
    average : bool or int >= 1, default=False
        Averaged SGD: the model is the mean of the parameters after each step from step 1
        (True) or the one given; ``partial_fit`` and ``warm_start`` go on from the iterate.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified), evaluate the
        validation loss after every epoch, stop when it has not improved for ``patience``
        epochs, and keep the best parameters seen. Ignored by ``partial_fit``.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out for early stopping or ``schedule="plateau"``.
        As in scikit-learn's ``MLPClassifier`` (unlike the CLI, which always honours the
        config's ``data.validation_fraction``), nothing is held out for anything else.
    patience : int, default=5
        Epochs without improvement of the validation loss before early stopping.
    standardize : bool, default=True
        Scale each feature to (x - mean) / std before the network sees it, as the CLI's
        ``data.standardize`` does: fitted on the data of ``fit`` (validation part included)
        or of the first ``partial_fit`` call, then kept (in ``standardizer_`` and the model
        file) and applied to every later input, by ``predict``, ``warm_start`` and later
        ``partial_fit`` calls alike. A feature that does not vary maps to 0. Only numeric
        inputs are scaled; one-hot and missing-indicator inputs stay 0/1.
    categorical_features : "from_dtype", None, or array-like of str, int or bool, \
default="from_dtype"
        The columns of X one-hot coded as categories (as the CLI's ``data.categorical``):
        ``"from_dtype"``, a DataFrame's ``category``, string and object columns (an array
        has none); a list of column names (X must be a DataFrame), of column indices, or a
        boolean mask of shape (n_features,); None, no column (a column holding text is then
        an error). A category's spelling is its text (``"01"`` and ``"1"`` are two; the
        numbers 2007 and 2007.0 are both ``"2007"``); a missing value is a category of its
        own. Learned with the preparation in ``fit`` (or the first ``partial_fit``), then
        kept: ``warm_start`` and later ``partial_fit`` calls use the fitted columns.
    missing : {"impute", "error"}, default="impute"
        What a missing value (NaN, None, ``pd.NA``) does, as the CLI's ``data.missing``:
        ``"impute"`` fills a numeric column's with its median in training and adds a 0/1
        input ``<column>_missing`` after it when the column had some in training (a column
        that had none is filled the same way at prediction, without an indicator); in a
        categorical column it is a category of its own. ``"error"``: a DataError naming the
        column and row. Infinity is always an error.
    min_frequency : int >= 1, default=1
        A category seen fewer times in training is folded into one input ``<column>=<other>``
        per column (as OneHotEncoder's ``min_frequency`` and the CLI's
        ``data.min_frequency``).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the order of the examples and the validation split.
        Pass an int for reproducible results. The default is scikit-learn's None (fresh
        randomness on every fit), where a config's ``seed`` defaults to 0.
    verbose : bool, default=False
        Show the trainer's progress bar (on stderr).
    warm_start : bool, default=False
        When true, ``fit`` continues from the current parameters and trainer state (the
        step counter t, the sampler, momentum) for another ``epochs`` (or ``steps``).
    engine : {"auto", "numpy", "numba"}, default="auto"
        What runs the SGD steps: the same steps either way, equal to rounding. ``auto``
        takes the compiled engine when numba is installed (``pip install "nnclf[fast]"``)
        and the run is long; with ``verbose``, the fit says which engine and why.
    dtype : {"float64", "float32"}, default="float64"
        The floating dtype of the parameters and of every pass; kept in the model file.
        float32 halves the memory and, on the compiled engine, about doubles the examples
        per second; its two engines agree to 1e-5 of the parameters' scale after 1,000
        steps (float64: 1e-8).
    class_weight : None, "balanced" or dict {label: weight}, default=None
        Step t draws example i with probability proportional to class_weight[y_i] *
        sample_weight_i (:mod:`nnclf.training.weights`; weight 2 is a repeated row, in expectation).
        ``"balanced"``: n / (K n_k), not in ``partial_fit``. Needs ``sampling="uniform"``.
    callbacks : list of callables, default=None
        ``callback(history)`` at every evaluation (the trainer's history rows); a true
        return stops training. ``clone`` deep-copies the list: a function stays itself (a
        closure over a list logs every clone's rows there), a callable object is copied.
        Pickled as a parameter: a lambda makes ``pickle`` fail with its own error.

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
        The labels; output k of the network is ``classes_[k]``.
    n_features_in_ : int
        The number of columns of X seen in ``fit`` (the network's inputs d may be more:
        one-hot and missing-indicator inputs).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The column names, when ``fit`` was given a DataFrame with string column names.
    is_categorical_ : ndarray of bool of shape (n_features_in_,) or None
        Which columns are one-hot coded as categories; None when none is.
    model_ : TrainedModel
        The network with its classes, feature names, preparation (imputation and one-hot
        coding, ``model_.preparation``; ``model_.input_names`` names the network's inputs)
        and standardisation; ``predict``, ``predict_proba`` and the label encoding are its
        own.
    network_ : Network
        The trained network (its graph is what ``predict_proba`` runs).
    W_ : ndarray of shape (hidden_units, d)
        d is the number of the network's inputs, ``len(model_.input_names)``.
    b_ : ndarray of shape (hidden_units,)
    V_ : ndarray of shape (K, m_L)
    gamma_ : ndarray of shape (K,)
        The parameters of ``network_`` (the same arrays); W_, b_ only with one hidden layer.
    coefs_, intercepts_ : list of ndarray
        [W_1, ..., W_L, V] and [b_1, ..., b_L, gamma], matrices (out, in) as in the notes
        (the transpose of ``MLPClassifier.coefs_``); [W, V] and [b, gamma] for one layer.
    standardizer_ : Standardizer or None
        Applied to X before the network sees it: fitted by ``fit`` (or the first
        ``partial_fit``) with ``standardize=True``, else None; a model read with
        :meth:`load` keeps the file's.
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
    engine_ : {"numpy", "numba"}
        The engine that ran the last ``fit`` or ``partial_fit`` (see ``engine``); absent
        after :meth:`load`, which trains nothing.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from nnclf import NNClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NNClassifier(hidden_units=10, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)

    A DataFrame with text columns and missing values needs no preprocessing:

    >>> import pandas as pd
    >>> df = pd.DataFrame({"island": ["Biscoe", "Dream", None, "Dream"],
    ...                    "mass": [3750.0, float("nan"), 3250.0, 3450.0]})
    >>> clf = NNClassifier(hidden_units=4, epochs=2, random_state=0).fit(df, [0, 1, 0, 1])
    >>> clf.model_.input_names
    ('island=Biscoe', 'island=Dream', 'island=<missing>', 'mass', 'mass_missing')
    """

    # Derived from the settings' own rules (nnclf.config.settings), as the estimator's parameters are
    # the config's settings.
    _parameter_constraints: dict = CONSTRAINTS

    def __init__(
        self,
        hidden_units=DEFAULTS["hidden_units"],
        *,
        transfer=DEFAULTS["transfer"],
        init=DEFAULTS["init"],
        eta0=DEFAULTS["eta0"],
        schedule=DEFAULTS["schedule"],
        schedule_params=DEFAULTS["schedule_params"],
        epochs=DEFAULTS["epochs"],
        steps=DEFAULTS["steps"],
        batch_size=DEFAULTS["batch_size"],
        sampling=DEFAULTS["sampling"],
        momentum=DEFAULTS["momentum"],
        l2=DEFAULTS["l2"],
        optimizer=DEFAULTS["optimizer"],
        optimizer_params=None,
        average=DEFAULTS["average"],
        early_stopping=DEFAULTS["early_stopping"],
        validation_fraction=DEFAULTS["validation_fraction"],
        patience=DEFAULTS["patience"],
        standardize=DEFAULTS["standardize"],
        categorical_features=DEFAULTS["categorical_features"],
        missing=DEFAULTS["missing"],
        min_frequency=DEFAULTS["min_frequency"],
        random_state=DEFAULTS["random_state"],
        verbose=DEFAULTS["verbose"],
        warm_start=DEFAULTS["warm_start"],
        engine=DEFAULTS["engine"],
        dtype=DEFAULTS["dtype"],
        class_weight=DEFAULTS["class_weight"],
        callbacks=DEFAULTS["callbacks"],
    ):
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
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.average = average
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.standardize = standardize
        self.categorical_features = categorical_features
        self.missing, self.min_frequency = missing, min_frequency
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.engine, self.dtype = engine, dtype
        self.class_weight, self.callbacks = class_weight, callbacks

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Missing values are imputed (infinity is refused), unless missing="error".
        tags.input_tags.allow_nan = self.missing != "error"
        return tags

    # ------------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train on X and y: ``epochs`` passes (or ``steps`` steps) of SGD.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numbers, and text in the columns ``categorical_features`` declares; missing
            values (NaN, None, ``pd.NA``) as ``missing`` says.
        y : array-like of shape (n_samples,)
            Class labels of any type (at least two distinct ones).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights >= 0: example i is drawn with probability proportional to its weight.

        Returns
        -------
        self
        """
        resume = self.warm_start and self.__sklearn_is_fitted__()
        cfg = to_config(self.get_params())
        seeds = draw_seeds(self.random_state)
        if not resume:
            self._forget_fit()
        X, y = self._validate_training_data(X, y, reset=not resume)
        model, trainer, X, targets = self._begin(
            X, y, None if resume else (np.unique(y), "y"), cfg, seeds["init"]
        )
        w = estimator_weights(X, targets, model.classes, self.class_weight, sample_weight)
        X, targets, w, X_val, y_val = validation_split(
            self.get_params(), X, targets, w, seeds["split"]
        )
        self._train(
            model, trainer, cfg.train, seeds["sgd"], X, targets, X_val, y_val, w, self.warm_start
        )
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of SGD over X and y, continuing from the current state.

        The step counter t (and so eta^t), the sampler and momentum carry on from the
        previous ``fit`` or ``partial_fit``; the epoch starts where the last one ended.
        ``epochs``, ``steps``, ``early_stopping`` and ``warm_start`` do not apply.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            As in :meth:`fit`; the first call learns the columns' preparation, later
            calls apply it (a category it never saw warns and codes as zeros).
        y : array-like of shape (n_samples,)
        classes : array-like of shape (K,), default=None
            Every label y can take. Required on the first call, since a later batch may
            hold labels this one lacks; optional afterwards (and then it must not change).
        sample_weight : array-like of shape (n_samples,), default=None
            As in :meth:`fit`.

        Returns
        -------
        self
        """
        first = not self.__sklearn_is_fitted__()
        if first and classes is None:
            raise DataError(
                "partial_fit: pass classes=... (every label y can take, e.g. np.unique(y_all)) "
                "on the first call; the network needs to know all K classes from the start"
            )
        cfg = to_config(
            dict(self.get_params(), epochs=1, steps=None, early_stopping=False), partial=True
        )
        seeds = draw_seeds(self.random_state)
        X, y = self._validate_training_data(X, y, reset=first)
        if (
            not first
            and classes is not None
            and not np.array_equal(np.unique(classes), self.classes_)
        ):
            raise DataError(
                f"partial_fit: classes={np.unique(classes).tolist()} differs from the "
                f"classes of earlier calls, {self.classes_.tolist()}; they cannot change"
            )
        model, trainer, X, targets = self._begin(
            X, y, (np.unique(classes), "classes") if first else None, cfg, seeds["init"]
        )
        w = estimator_weights(X, targets, model.classes, self.class_weight, sample_weight)
        self._train(
            model, trainer, cfg.train, seeds["sgd"], X, targets, None, None, w, open_ended=True
        )
        return self

    @classmethod
    def register_onnx(cls) -> None:
        """Teach skl2onnx to convert a fitted NNClassifier, alone or in a Pipeline (idempotent).

        After it, ``skl2onnx.to_onnx(estimator_or_pipeline, X[:1].astype(np.float32))``
        converts as skl2onnx converts its own classifiers (see :mod:`nnclf.estimator.onnx`).
        A fit in a process that has imported skl2onnx calls it by itself. Needs skl2onnx.
        """
        register(cls)

    def _validate_training_data(self, X, y, reset):
        """(the raw columns of X, y as labels), checked as scikit-learn's ``validate_data``
        checks them, X read as prediction reads it (:meth:`_read_columns`)."""
        validate_data(self, X, y, reset=reset, skip_check_array=True, ensure_2d=False)
        X = self._read_columns(X, reset=reset)
        # A 2-D y is let through (as multi_output=True does), so that several labels per
        # example get their own message; column_or_1d then warns about a column vector.
        y = check_array(
            y, accept_sparse="csr", ensure_2d=False, dtype=None, input_name="y", estimator=self
        )
        check_consistent_length(X, y)
        if y.ndim == 2 and y.shape[1] > 1:
            raise DataError(
                f"y has shape {y.shape}: several labels per example (multilabel or "
                "multioutput). NNClassifier predicts one label per example; wrap it in "
                "sklearn.multioutput.MultiOutputClassifier for several"
            )
        y = column_or_1d(y, warn=True)
        kind = type_of_target(y, input_name="y")
        if kind not in ("binary", "multiclass"):
            why = (
                "y looks like a regression target; use a regressor, or bin y into classes"
                if kind.startswith("continuous")
                else "give labels as strings or integers"
            )
            raise DataError(f"Unknown label type: {kind}. NNClassifier needs class labels: {why}")
        return X, y

    def _begin(self, X, y, new_classes, cfg: Config, seed: int):
        """(model, trainer, network inputs, class indices of y): a new model for
        ``new_classes`` = (classes, where they come from), or else the fitted one continued."""
        if new_classes is None:
            model, trainer = self._continued()
            if isinstance(X, Frame):
                warn_unseen(model.preparation, X)
        else:
            model, trainer = self._new_model(X, *new_classes, cfg, seed), None
        X = model.prepare(X)
        hint = "; the classes are fixed by the first fit or partial_fit"
        return model, trainer, X, model.encode(y, hint=hint)

    def _new_model(self, X: Frame, classes, where: str, cfg: Config, seed: int) -> TrainedModel:
        """An untrained model for ``classes`` (from ``where``), its preparation and
        standardiser fitted on the raw columns X, as the CLI fits them (``cfg.data``)."""
        if len(classes) < 2:
            raise DataError(
                f"{where} has only one class ({label_text(classes[0])}) but a classifier needs "
                "at least two; give training data with two or more distinct labels"
            )
        names = getattr(self, "feature_names_in_", None)
        preparation, standardizer = prepared(X, None, cfg.data)
        model = TrainedModel.untrained(
            cfg.model,
            preparation.width,
            classes,
            seed,
            feature_names=tuple(str(n) for n in names) if names is not None else None,
            standardizer=standardizer,
            preparation=preparation,
        )
        try:  # found now, not when the model is saved
            to_json(model.metadata(), "metadata")
        except TypeError as e:
            raise DataError(
                f"{where}: labels of dtype {np.asarray(classes).dtype} cannot be "
                f"stored in a model file ({e}); give labels as strings or "
                "integers"
            ) from None
        return model

    def _continued(self) -> tuple[TrainedModel, Trainer | None]:
        """A copy of the model and of its trainer (None after :meth:`load`) to go on with.

        Training a copy, committed at the end, leaves the estimator as it was if training
        is cut short by an exception.
        """
        net = self.network_
        check_same_network(self.hidden_units, self.transfer, net, self.dtype)
        model = replace(
            self.model_, network=Network.from_params(net.params, net.transfer, dtype=net.dtype)
        )
        trainer = self._trainer
        if trainer is not None:
            trainer = Trainer.from_state(
                model.network, *trainer.state_dict(), progress=self._progress()
            )
        return model, trainer

    def _train(
        self,
        model: TrainedModel,
        trainer: Trainer | None,
        settings: SGDSettings,
        seed: int,
        X,
        targets,
        X_val,
        y_val,
        sample_weight,
        open_ended: bool = False,
    ) -> None:
        """The settings' T more steps of ``trainer`` (a new one with ``seed`` if None); the
        result becomes the fitted state. ``open_ended`` (``partial_fit``, ``warm_start``):
        more calls may follow, so averaging may start after this call's last step."""
        trainer = trainer or Trainer(model.network, settings, seed=seed, progress=self._progress())
        trainer.callbacks = check_callbacks(self.callbacks)
        t_before = trainer.t
        steps = settings.total_steps(len(X))
        if not open_ended:
            settings.check_average(steps)
        trainer.extend(steps, settings)
        try:
            trainer.fit(X, targets, X_val, y_val, sample_weight=sample_weight)
        except DivergenceError:
            # The trainer has put back the last finite parameters and says so; keep them.
            self._commit(model, trainer, t_before, len(X))
            raise
        self._commit(model, trainer, t_before, len(X))

    def _progress(self) -> str:
        return "bar" if self.verbose else "none"

    def _commit(self, model: TrainedModel, trainer: Trainer, t_before: int, n: int) -> None:
        """Make the trained model and its trainer the fitted state."""
        register_if_loaded(type(self))  # skl2onnx, if the script has imported it, can convert this
        self.model_ = model
        self._trainer = trainer
        self.t_ = trainer.t
        if trainer.engine is not None:
            self.engine_ = trainer.engine.name
        epochs = math.ceil((trainer.t - t_before) / trainer.sampler.steps_per_epoch(n))
        self.n_iter_ = getattr(self, "n_iter_", 0) + epochs
        self.loss_curve_ = [row["train_loss"] for row in trainer.history]
        if trainer.settings.early_stopping is not None:
            self.validation_scores_ = [row["val_accuracy"] for row in trainer.history]
            self.best_loss_ = trainer.best_score
        else:
            self.validation_scores_ = None
            finite = [v for v in self.loss_curve_ if math.isfinite(v)]
            self.best_loss_ = min(finite) if finite else None

    def _forget_fit(self) -> None:
        for name in (
            "model_",
            "_trainer",
            "t_",
            "n_iter_",
            "loss_curve_",
            "validation_scores_",
            "best_loss_",
            "engine_",
        ):
            self.__dict__.pop(name, None)
