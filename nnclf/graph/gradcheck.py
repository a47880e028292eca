"""Gradient checking: backpropagation against central finite differences.

Contract
--------
``gradcheck(graph, leaf_values)`` perturbs every entry of every real-valued leaf by +-eps,
estimates du^n/du^j_k = (f(u + eps e_k) - f(u - eps e_k)) / (2 eps), and compares it with the
backward pass. The finite differences are always taken in float64, on a float64 copy of the
graph (:meth:`~nnclf.graph.graph.Graph.astype`) at the point the graph sees: a float32
graph's backward pass is checked against an estimate its own rounding does not spoil. An
entry passes when |analytic - numeric| <= atol + rtol |numeric| (the defaults eps = 1e-6,
atol = 1e-5, rtol = 1e-3 are PyTorch's). The report gives, per leaf,
the largest absolute and relative errors.

``check_function(fn, *args)`` does the same for one local function: for each argument position
it compares the explicit Jacobian, the VJP (applied to each unit vector) and finite differences.
Use it on a local function of your own before putting it in a graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nnclf.base.tables import format_table
from nnclf.errors import GraphError
from nnclf.graph.functions import LocalFunction
from nnclf.graph.graph import Graph

__all__ = [
    "LeafCheck",
    "GradcheckReport",
    "numerical_gradient",
    "gradcheck",
    "gradcheck_modes",
    "check_function",
]

EPS, ATOL, RTOL = 1e-6, 1e-5, 1e-3


@dataclass(frozen=True)
class LeafCheck:
    """The comparison for one leaf (or one argument position)."""

    name: str
    max_abs_error: float
    max_rel_error: float
    ok: bool
    size: int


@dataclass
class GradcheckReport:
    """Per-leaf results of a gradient check; true when every leaf passed."""

    checks: list[LeafCheck] = field(default_factory=list)
    what: str = "backprop vs finite differences"

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def __bool__(self) -> bool:
        return self.ok

    def __getitem__(self, name: str) -> LeafCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def __str__(self) -> str:
        rows = [["leaf", "entries", "max abs err", "max rel err", "ok"]]
        rows += [
            [
                c.name,
                str(c.size),
                f"{c.max_abs_error:.3e}",
                f"{c.max_rel_error:.3e}",
                "yes" if c.ok else "NO",
            ]
            for c in self.checks
        ]
        return f"{self.what}\n{format_table(rows, right={1, 2, 3})}"


def _compare(name: str, analytic, numeric, atol: float, rtol: float) -> LeafCheck:
    a, n = np.ravel(analytic).astype(float), np.ravel(numeric).astype(float)
    diff = np.abs(a - n)
    rel = diff / np.maximum(np.abs(n), 1e-12)
    return LeafCheck(
        name=name,
        max_abs_error=float(diff.max(initial=0.0)),
        max_rel_error=float(rel.max(initial=0.0)),
        ok=bool(np.all(diff <= atol + rtol * np.abs(n))),
        size=a.size,
    )


def numerical_gradient(f, x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Central differences of the scalar function ``f`` at ``x`` (a float64 array).

    ``x`` is perturbed in place, one entry at a time, and restored.
    """
    grad = np.empty(x.shape)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + eps
        up = np.asarray(f()).item()
        flat[k] = saved - eps
        down = np.asarray(f()).item()
        flat[k] = saved
        gflat[k] = (up - down) / (2 * eps)
    return grad


def _is_real(value) -> bool:
    return np.asarray(value).dtype.kind == "f"


MODES = ("vjp", "jacobian", "path_sum")


def gradcheck(
    graph: Graph,
    leaf_values: dict,
    wrt=None,
    mode: str = "vjp",
    eps: float = EPS,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> GradcheckReport:
    """Compare ``graph.backward`` (in ``mode``) with central finite differences.

    Parameters
    ----------
    graph : Graph
    leaf_values : dict
        A value for every leaf. Real-valued leaves are cast to the graph's dtype, as
        ``graph.forward`` casts them (the caller's arrays are not changed).
    wrt : sequence of str, optional
        The leaves to check (default: ``graph.real_leaves``, every leaf used as a
        differentiable argument, so not a class index, in which the output is piecewise
        constant). Leaves only: finite differences perturb leaf values.
    mode : {"vjp", "jacobian", "path_sum"}
        Which of the three ways of computing p^j to check.

    Returns
    -------
    GradcheckReport
    """
    return gradcheck_modes(graph, leaf_values, wrt, (mode,), eps, atol, rtol)[mode]


def gradcheck_modes(
    graph: Graph,
    leaf_values: dict,
    wrt=None,
    modes=MODES,
    eps: float = EPS,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> dict[str, GradcheckReport]:
    """:func:`gradcheck` for several modes at once: the finite differences, which cost two
    forward passes per leaf entry, are computed once and compared with every mode.

    Returns
    -------
    dict
        mode -> GradcheckReport, in the order of ``modes``.
    """
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise GraphError(f"gradcheck: unknown mode {unknown[0]!r}; use one of {', '.join(MODES)}")
    names = _leaves_to_check(graph, wrt)
    forward = graph.forward(leaf_values)
    output = graph.output.name
    analytic = {
        mode: (
            {name: graph.path_sum(forward, name, output) for name in names}
            if mode == "path_sum"
            else graph.backward(forward, mode=mode, wrt=names)
        )
        for mode in modes
    }
    numeric = _finite_differences(graph, leaf_values, names, eps)
    return {
        mode: GradcheckReport(
            checks=[
                _compare(name, analytic[mode][name], numeric[name], atol, rtol) for name in names
            ],
            what=f"backprop ({mode}) vs finite differences (eps={eps:g})",
        )
        for mode in modes
    }


def _leaves_to_check(graph: Graph, wrt) -> list[str]:
    """The names of the leaves ``wrt`` designates (default: every real leaf)."""
    if wrt is None:
        names = list(graph.real_leaves)
    else:
        vertices = [
            graph.vertex_of(ref, "gradcheck")
            for ref in ([wrt] if isinstance(wrt, (str, int, np.integer)) else wrt)
        ]
        inner = [v for v in vertices if not v.is_leaf]
        if inner:
            raise GraphError(
                f"gradcheck: vertex {inner[0].index} ({inner[0].name}) is not a "
                "leaf; finite differences perturb leaves only"
            )
        names = [v.name for v in vertices]
    if not names:
        raise GraphError("gradcheck: no leaf to check; the output depends on no real-valued leaf")
    return names


def _finite_differences(graph: Graph, leaf_values: dict, names, eps: float) -> dict:
    """Leaf name -> central differences of the output with respect to that leaf."""
    # Finite differences in float64 on a float64 copy of the graph, at the point the graph
    # saw (its leaves in its dtype): in float32 the rounding of f would swamp them. Every
    # real leaf is copied, so the checked ones can be perturbed in place.
    exact = graph if graph.dtype == np.float64 else graph.astype(np.float64)
    values = {
        k: exact.leaf_array(k, np.array(graph.leaf_array(k, v, "gradcheck"), dtype=np.float64))
        if k in graph.real_leaves
        else v
        for k, v in leaf_values.items()
    }
    output = graph.output.name

    def f():
        return exact.forward(values)[output]

    return {name: numerical_gradient(f, values[name], eps) for name in names}


def check_function(
    fn: LocalFunction, *args, eps: float = EPS, atol: float = ATOL, rtol: float = RTOL
) -> GradcheckReport:
    """For each differentiable argument position k of ``fn``: the explicit Jacobian
    J^{k}, the VJP applied to every unit vector, and finite differences must agree.

    The report has two rows per position: ``"arg k: jacobian"`` (Jacobian vs finite
    differences) and ``"arg k: vjp"`` (VJP rows vs the Jacobian).
    """
    args = [np.array(a, dtype=float) if _is_real(a) else np.asarray(a) for a in args]
    fn.check(*args)
    ans = np.asarray(fn.forward(*args), dtype=float)
    report = GradcheckReport(what=f"local function {fn.name}: Jacobian, VJP, finite differences")
    for k, a in enumerate(args):
        if not fn.differentiable[k] or not _is_real(a):
            continue
        J = fn.jacobian(k, ans, *args)
        numeric = np.empty_like(J)
        for r in range(ans.size):

            def f_r(r=r):
                return np.ravel(fn.forward(*args))[r]

            numeric[r] = np.ravel(numerical_gradient(f_r, a, eps))
        from_vjp = np.stack(
            [np.ravel(fn.vjp(k, e.reshape(ans.shape), ans, *args)) for e in np.eye(ans.size)]
        )
        report.checks.append(_compare(f"arg {k + 1}: jacobian", J, numeric, atol, rtol))
        report.checks.append(_compare(f"arg {k + 1}: vjp", from_vjp, J, atol, rtol))
    return report
