"""Which examples SGD visits at each step: the notes' "pick i", one epoch at a time.

Contract
--------
A :class:`Sampler` owns the trainer's one ``numpy.random.Generator`` and the epoch it is in.
An epoch of n examples is ceil(n / batch_size) steps; its example indices are drawn at once,
when it starts:

- ``"uniform"`` (the notes): ``rng.integers(0, n, size=steps * batch_size)``, i.e. every
  example picked uniformly at random, with replacement;
- ``"shuffle"``: ``rng.permutation(n)``, every example once (the last minibatch may be
  shorter).

With per-example weights w (:meth:`Sampler.weigh`, see :mod:`nnclf.training.weights`), ``"uniform"``
draws each index i with probability w_i / sum(w), by inverse CDF from the same generator:
``searchsorted(cumsum(w), rng.random(steps * batch_size) * sum(w), side="right")``, so an
example of weight 0 is never drawn. Equal weights (or none) draw with ``rng.integers`` as
above, bit for bit. ``"shuffle"`` visits every example once an epoch, which leaves no place
for a weight: unequal weights with it are an error naming both settings.

The sampler keeps the step t at which the current epoch started and the generator's state
at that moment (:meth:`Sampler.state_dict`). Redrawing the epoch from that state gives the
same indices, so a run stopped and continued anywhere, even from a file, sees exactly the
indices an uninterrupted one would. Because the epoch start is kept rather than computed
from t, a later call with a different n (``partial_fit`` on batches of uneven sizes) starts
its epoch where the previous one ended.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from nnclf.errors import ConfigError
from nnclf.training.settings import SAMPLING
from nnclf.training.weights import below_one, check_sample_weight

__all__ = ["Sampler", "steps_per_epoch"]


def steps_per_epoch(n: int, batch_size: int) -> int:
    """ceil(n / batch_size): the SGD steps of one pass over n examples."""
    return -(-n // batch_size)


class Sampler:
    """Draws the example indices of each epoch from one seeded generator.

    Parameters
    ----------
    sampling : {"uniform", "shuffle"}
    batch_size : int
        B, the examples per step.
    seed : int
        Seeds the generator.

    Attributes
    ----------
    order : ndarray of int64
        The current epoch's example indices, one step's B after another (what ``picks``
        splits; the compiled engine reads it directly).
    epoch_start : int or None
        The step t at which the current epoch started (the epoch then covers steps
        epoch_start + 1 .. epoch_start + ceil(n / B)). None for a state read from a file
        written before epoch starts were kept: the epoch is then the one of the grid of
        multiples of ceil(n / B) that holds t.
    """

    def __init__(self, sampling: str, batch_size: int, seed: int):
        assert sampling in SAMPLING, sampling  # SGDSettings has checked it
        self.sampling = sampling
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.epoch_start: int | None = 0
        self._epoch_state = self.rng.bit_generator.state
        self.order = np.zeros(0, dtype=np.int64)
        self._cumulative: np.ndarray | None = None

    def weigh(self, weights, n: int) -> None:
        """Draw example i with probability proportional to ``weights[i]`` from now on.

        Parameters
        ----------
        weights : array-like of shape (n,), or None
            Finite, >= 0, not all zero (else a DataError naming ``sample_weight``); None,
            or all weights equal, is uniform.
        n : int
            The number of examples.

        Raises
        ------
        ConfigError
            Unequal weights with ``sampling="shuffle"``.
        """
        if weights is not None:
            weights = check_sample_weight(weights, n)
        if weights is None or np.all(weights == weights[0]):
            self._cumulative = None
            return
        if self.sampling == "shuffle":
            raise ConfigError(
                " is shuffle, which visits every example once an epoch and "
                "leaves no place for a weight; use sampling uniform with "
                "class_weight or sample_weight",
                name="sampling",
            )
        # Scaled exactly so that the total is at most n: weights near the float maximum would
        # make it inf, and every draw the last example. The draw is the same for any weights
        # whose total was finite.
        weights = below_one(weights)
        cumulative = np.cumsum(weights, dtype=np.float64)
        # Where u * total rounds up to the total, searchsorted passes the end: clamp to the
        # last example that can be drawn, never to one of weight 0.
        self._last = int(np.flatnonzero(weights)[-1])
        self._cumulative = cumulative

    def steps_per_epoch(self, n: int) -> int:
        return steps_per_epoch(n, self.batch_size)

    def epoch(self, t: int, n: int) -> tuple[int, list]:
        """The epoch that step t + 1 belongs to: (its start, its picks).

        ``picks[k]`` is what step epoch_start + k + 1 trains on: an example index for
        batch size 1 (a Python int, the fastest row index), else an index array of up to
        B rows. An epoch that step t has already passed (possible only when n is smaller
        than in the call that started it) is drawn to move the generator on, and a new
        one starts at t.
        """
        if self.epoch_start is None:
            self.epoch_start = t - t % self.steps_per_epoch(n)
        picks = self._draw(n)
        if t >= self.epoch_start + len(picks):
            self.next_epoch(t)
            picks = self._draw(n)
        return self.epoch_start, picks

    def next_epoch(self, t: int) -> None:
        """Start a new epoch at step t, drawing from where the last draw left the generator.

        Call it when the epoch's last step is done, before anything can save the state.
        """
        self.epoch_start = t
        self._epoch_state = self.rng.bit_generator.state

    def _draw(self, n: int) -> list:
        # Always from the epoch's saved start state: the same epoch, however it is reached.
        self.rng.bit_generator.state = self._epoch_state
        B = self.batch_size
        steps = self.steps_per_epoch(n)
        if self._cumulative is not None:
            assert len(self._cumulative) == n, (len(self._cumulative), n)
            total = self._cumulative[-1]
            order = np.searchsorted(
                self._cumulative, self.rng.random(steps * B) * total, side="right"
            )
            np.minimum(order, self._last, out=order)
        elif self.sampling == "uniform":
            order = self.rng.integers(0, n, size=steps * B)
        else:
            order = self.rng.permutation(n)
        self.order = order.astype(np.int64, copy=False)
        if B == 1:
            return order.tolist()
        return [order[k * B : (k + 1) * B] for k in range(steps)]

    def state_dict(self) -> dict:
        """The JSON-able state: ``epoch_rng_state`` and ``epoch_start``."""
        return {"epoch_rng_state": self._epoch_state, "epoch_start": self.epoch_start}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore :meth:`state_dict`; ``epoch_start`` may be missing (older files)."""
        self._epoch_state = dict(state["epoch_rng_state"])
        start = state.get("epoch_start")
        self.epoch_start = None if start is None else int(start)
