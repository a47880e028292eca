"""The errors nnclf raises on purpose: one small hierarchy.

Contract
--------
Everything nnclf raises because it was asked for something it cannot do (a bad config value,
a data file it cannot read, a model file that is not one, training that diverged) is an
:class:`NnclfError`, with a one-line message naming the offender and the fix. The command
line catches exactly these (one ``nnclf: error:`` line and :attr:`NnclfError.exit_code`);
any other exception is a bug in nnclf and keeps its traceback.

``NnclfError`` subclasses ``ValueError``, so code (and scikit-learn's estimator checks) that
expects a ``ValueError`` for bad input keeps working.

Lower layers name their own arguments: ``ConfigError(" must be an integer >= 1, got 0",
name="epochs")`` reads ``epochs must be an integer >= 1, got 0``. The layer that knows where
the value came from adds that once, with :meth:`NnclfError.within` (``train.epochs must be
...``) or :meth:`NnclfError.renamed` (``--data: ...``); no message is ever edited as text.
"""

from __future__ import annotations

__all__ = [
    "NnclfError",
    "ConfigError",
    "DataError",
    "ModelFileError",
    "CheckpointError",
    "RunError",
    "OutputError",
    "GraphError",
    "UsageError",
    "DivergenceError",
]


class NnclfError(ValueError):
    """A request nnclf cannot carry out; the message says what is wrong and how to fix it."""

    exit_code = 2
    """What ``nnclf`` exits with when this error ends a command."""

    def __init__(self, problem: str, *, name: str | None = None):
        # With a name, the message is the name followed by the problem, which starts with its
        # own separator: " must be ..." or ": unknown ...".
        self.name, self.problem = name, problem
        super().__init__(problem if name is None else f"{name}{problem}")

    def __reduce__(self):
        return _rebuild, (type(self), self.problem, self.name)

    def within(self, where: str) -> NnclfError:
        """The same error told by an outer layer that knows where the value came from:
        ``epochs must be ...`` within ``train`` is ``train.epochs must be ...``; an error
        without a name becomes ``where: problem``."""
        if self.name is None:
            return type(self)(f": {self.problem}", name=where)
        return type(self)(self.problem, name=f"{where}.{self.name}")

    def renamed(self, name: str) -> NnclfError:
        """The same error about the argument ``name`` (e.g. ``source`` -> ``--data``)."""
        if self.name is None:
            return type(self)(f": {self.problem}", name=name)
        return type(self)(self.problem, name=name)


def _rebuild(cls, problem, name):
    return cls(problem, name=name)


class ConfigError(NnclfError):
    """A config file, a ``--set`` override or a setting's value is wrong."""


class DataError(NnclfError):
    """A data source cannot be read, or its columns, values or labels do not fit."""


class ModelFileError(NnclfError):
    """A model file cannot be written or read; the message names the file."""


class CheckpointError(ModelFileError):
    """A checkpoint cannot be read, or does not fit the run it should continue."""


class RunError(NnclfError):
    """A run directory cannot be used as asked (taken, unfinished, not a run)."""


class OutputError(NnclfError):
    """A path nnclf was asked to write that it must not write (see nnclf.base.outputs)."""


class GraphError(NnclfError):
    """A graph, a local function, or the values given to them do not fit together."""


class UsageError(NnclfError):
    """A command line that cannot be made sense of."""


class DivergenceError(NnclfError):
    """The loss became NaN or infinite; the message says at which step and what to do.

    ``kept``, when given, is the clause of the message that says what became of the
    parameters in memory; a caller that keeps none of them says so with :meth:`keeping`.
    """

    exit_code = 1

    def __init__(self, problem: str, *, name: str | None = None, kept: str | None = None):
        super().__init__(problem, name=name)
        self.kept = kept

    def keeping(self, instead: str) -> DivergenceError:
        """The same error with the clause ``kept`` replaced by ``instead`` (e.g. "nothing was
        written", where nothing of the run is kept), or ``instead`` added when there is none."""
        if self.kept and self.kept in self.problem:
            problem = self.problem.replace(self.kept, instead, 1)
        else:
            problem = f"{self.problem}; {instead}"
        return DivergenceError(problem, name=self.name, kept=instead)
