"""Model files: a network's parameters by name and their metadata in one archive.

Contract
--------
A model file is an archive (:mod:`nnclf.base.archive`: an ``.npz`` of arrays plus one JSON entry)
holding the network's float arrays by name and the JSON object ``metadata``, never a pickle.
A network with one hidden layer (the notes') has ``W`` (m, d), ``b`` (m,), ``V`` (K, m),
``gamma`` (K,), as every file did before deeper networks (``format_version`` 1, still
written for them, so older nnclf reads them); one with L >= 2 hidden layers has ``W1``
(m_1, d), ``b1`` (m_1,), ..., ``WL`` (m_L, m_{L-1}), ``bL`` (m_L,), ``V`` (K, m_L),
``gamma`` (K,) (``format_version`` 2, which an older nnclf refuses as "written by a newer
nnclf"). The layer sizes are read from the arrays. The metadata always carries ``format``
("nnclf-model"), ``format_version`` and ``nnclf_version``; callers add ``classes``,
``feature_names``, ``standardizer``, ``transfer``, ``layers``, ``config`` or anything else
that JSON can hold.

- :func:`save_model` validates before writing and writes atomically: a crash never
  leaves a half-written model, and an existing file is replaced only by a complete one.
- :func:`load_model` opens files with ``allow_pickle=False``, so loading can never run
  code, and turns every problem into one :class:`~nnclf.errors.ModelFileError` line naming
  the file.
"""

from __future__ import annotations

import numpy as np

from nnclf.base.archive import read_archive, to_json, write_archive
from nnclf.base.outputs import atomic_write, atomic_write_text
from nnclf.base.version import __version__
from nnclf.errors import ModelFileError
from nnclf.graph.network import MAX_LAYERS, layers_of, param_names

__all__ = ["save_model", "load_model", "ModelFileError", "atomic_write", "atomic_write_text"]

FORMAT = "nnclf-model"
FORMAT_VERSION = 2
"""The newest format read: 2 for networks of several hidden layers, 1 for one."""
META = "metadata"


def save_model(path, params, metadata):
    """Validate `params` and `metadata` and write them atomically to the model file `path`.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, kept exactly as given (no ``.npz`` suffix is added).
    params : dict of str to ndarray
        Float arrays ``W`` (m, d), ``b`` (m,), ``V`` (K, m), ``gamma`` (K,); or ``W1``,
        ``b1``, ..., ``WL``, ``bL``, ``V``, ``gamma`` for L >= 2 hidden layers (see the
        module docstring for their shapes).
    metadata : dict
        JSON-serialisable after numpy scalars and arrays become plain Python values.
        ``format``, ``format_version`` and ``nnclf_version`` are set here.

    Returns
    -------
    pathlib.Path
    """
    names = _names(params, path)
    extra = sorted(set(params) - set(names))
    if extra:
        raise _error(path, f"unexpected parameter {extra[0]!r}; expected {', '.join(names)}")
    arrays = _check_params({name: params.get(name) for name in names}, path)
    if not isinstance(metadata, dict):
        raise _error(path, f"metadata has type {type(metadata).__name__}; pass a dict")
    try:
        metadata = to_json(metadata, "metadata")
    except TypeError as exc:
        raise _error(path, str(exc)) from None
    metadata.update(
        format=FORMAT, format_version=1 if "W" in names else 2, nnclf_version=__version__
    )
    try:
        return write_archive(path, arrays, metadata, meta_key=META)
    except OSError as exc:
        raise _error(
            path,
            f"cannot be written ({exc.strerror or exc}); "
            "check that the directory exists and is writable",
        ) from None


def load_model(path):
    """Read a model file written by :func:`save_model`, refusing anything that could run code.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    params : dict of str to ndarray
        ``W``, ``b``, ``V``, ``gamma`` (or ``W1``, ``b1``, ..., ``V``, ``gamma``), in update
        order: float64, C-contiguous, writable.
    metadata : dict
        The decoded JSON metadata.

    Raises
    ------
    ModelFileError
        If the file is missing, not an npz, not an nnclf model, from a newer nnclf,
        inconsistent, contains object (pickled) arrays, or a parameter that is NaN or
        infinite.
    """
    arrays, metadata = read_archive(
        path, meta_key=META, kind="an nnclf model", error=lambda problem: _error(path, problem)
    )
    _check_format(metadata, path)
    names = _names(arrays, path)
    for name in names:
        if name not in arrays:
            raise _error(path, f"is not an nnclf model (missing parameter {name!r})")
    params = _check_params({name: arrays[name] for name in names}, path)
    # A copy is always float64, C-contiguous and writable, whatever the file held.
    return {k: np.array(v, dtype=np.float64, order="C") for k, v in params.items()}, metadata


def _error(path, problem):
    return ModelFileError(f"model file '{path}': {problem}")


def _check_format(metadata: dict, path) -> None:
    if metadata.get("format") != FORMAT:
        raise _error(path, f"is not an nnclf model (metadata format is not {FORMAT!r})")
    version = metadata.get("format_version")
    if type(version) is not int or version < 1:
        raise _error(path, f"has an invalid format_version {version!r}; re-save the model")
    if version > FORMAT_VERSION:
        raise _error(
            path,
            f"was written by a newer nnclf (format version {version} > "
            f"{FORMAT_VERSION}); upgrade nnclf",
        )


def _names(params, path) -> tuple[str, ...]:
    """The parameter names of the network ``params`` describe (W, b, V, gamma when there is
    no weight matrix at all, so that the error names the notes' W)."""
    n = layers_of(params)
    if n == 1 and "W1" in params:
        raise _error(
            path,
            "has both 'W' and 'W1'; a network with one hidden layer names its "
            "weights W, one with several W1, W2, ...",
        )
    if n > MAX_LAYERS:
        raise _error(path, f"has {n} hidden layers; nnclf reads at most {MAX_LAYERS}")
    return param_names(max(n, 1))


def _check_params(params, path):
    """Check dtypes and the shapes of a chain of layers (W1 (m_1, d), b1 (m_1,), W2 (m_2,
    m_1), ..., V (K, m_L), gamma (K,)); return ndarrays in the same order."""
    names = list(params)
    arrays = {}
    for name in names:
        if params[name] is None:
            raise _error(path, f"parameter {name!r} is missing; pass all of {', '.join(names)}")
        arrays[name] = np.asarray(params[name])
        if not np.issubdtype(arrays[name].dtype, np.floating):
            raise _error(
                path, f"parameter {name!r} has dtype {arrays[name].dtype}; expected a float array"
            )
        bad = np.size(arrays[name]) - np.count_nonzero(np.isfinite(arrays[name]))
        if bad:
            raise _error(
                path,
                f"parameter {name!r} holds {bad} NaN or infinite value(s); such a model "
                "predicts nan probabilities: retrain it (a lower eta or gradient clipping "
                "keeps training finite)",
            )
    first = names[0]
    if arrays[first].ndim != 2:
        raise _error(path, f"parameter {first!r} has shape {arrays[first].shape}; expected (m, d)")
    fan_in, before = arrays[first].shape[1], first
    for w, b in zip(names[::2], names[1::2]):
        W, bias = arrays[w], arrays[b]
        if W.ndim != 2 or W.shape[1] != fan_in:
            raise _error(
                path,
                f"parameter {w!r} has shape {W.shape} but {before} has {fan_in} "
                f"{'hidden units' if w != first else 'inputs'}",
            )
        m = W.shape[0]
        if bias.shape != (m,):
            raise _error(
                path,
                f"parameter {b!r} has shape {bias.shape} but {w} has {m} "
                f"{'classes' if w == 'V' else 'hidden units'}",
            )
        fan_in, before = m, w
    return arrays
