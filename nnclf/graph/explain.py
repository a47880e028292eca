"""A computational graph on one example, as a self-contained interactive HTML page.

Contract
--------
:func:`describe` turns a :class:`~nnclf.graph.graph.Graph` and the values its forward pass
returned into a JSON-able dict: every vertex (number i, name, f^i, parents pi(i), its value u^i
and its p^i), every edge (j, i) (its Jacobian D^{j->i} = J^{j->i}(A^i), and the term
p^i J^{j->i} it adds to p^j), the paths from each vertex to the output with the product of
Jacobians along each and their sum (the notes' theorem), and, given parameters and eta^t, one
step of SGD, theta <- theta - eta^t p^theta, with the loss before and after. Every number comes
from the graph's own passes (``backward``, ``edge_jacobian``, ``path_products``,
``path_sum``, the local functions' VJPs) and is rounded to :data:`DIGITS` significant digits
for display; the page computes nothing, it only shows them.

A Jacobian of more than :data:`DENSE_LIMIT` entries is not built: the page shows its closed
form when its local function has one here (affine's J^{W->z} = I ⊗ x^T), else its shape; a
diagonal Jacobian is kept as its diagonal. Paths are listed for a vertex with at most
:data:`PATHS_SHOWN` of them, and counted otherwise.

:func:`render` puts the description into the page template (``templates/explain.html``,
package data: inline script and style, the data in a ``<script type="application/json">``
tag, nothing fetched from the network); :func:`write_page` writes it atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from nnclf.base.pages import embed, template
from nnclf.base.pages import write_page as write_html
from nnclf.errors import GraphError

__all__ = [
    "DIGITS",
    "DENSE_LIMIT",
    "PATHS_SHOWN",
    "describe",
    "render",
    "write_page",
    "rounded",
]

DIGITS = 6
"""Significant digits of every number on the page."""
DENSE_LIMIT = 20_000
"""The most entries of a Jacobian built and shown as a matrix."""
PATHS_SHOWN = 16
"""The most paths from one vertex to the output listed, with their products."""

# (local function, argument position) -> the closed form of J^{j->i}, given the parents' names.
CLOSED_FORMS = {
    ("affine", 0): lambda W, x, b: (
        f"J^{{{W}->i}} = I ⊗ {x}^T: the entry (r, (r', c)) is [r = r'] {x}_c "
        f"(rows r of u^i, columns the entries (r', c) of {W} in row-major order)"
    ),
    ("affine", 1): lambda W, x, b: f"J^{{{x}->i}} = {W}",
    ("affine", 2): lambda W, x, b: f"J^{{{b}->i}} = I",
}


def rounded(a) -> dict:
    """An array for display: its shape and its entries (row-major) to :data:`DIGITS`
    significant digits; a non-finite entry is null."""
    a = np.asarray(a, dtype=float)
    v = [float(f"{x:.{DIGITS}g}") if np.isfinite(x) else None for x in a.ravel()]
    return {"shape": list(a.shape), "v": v}


def _layout(graph) -> dict[int, tuple[int, int]]:
    """(column, row) of each vertex: a non-leaf one column right of its rightmost parent, a
    leaf one column left of its leftmost child; rows in vertex order within a column."""
    col: dict[int, int] = {}
    for v in graph.vertices[graph.l :]:
        col[v.index] = 1 + max((col.get(p.index, 0) for p in v.parents if not p.is_leaf), default=0)
    for leaf in graph.leaves:
        children = [v for v in graph.vertices[graph.l :] if leaf in v.parents]
        col[leaf.index] = min((col[c.index] for c in children), default=1) - 1
    rows: dict[int, int] = {}
    out = {}
    for v in graph.vertices:
        c = col[v.index]
        out[v.index] = (c, rows.get(c, 0))
        rows[c] = rows.get(c, 0) + 1
    return out


def _vertices(graph, values: Mapping, p: Mapping, params: Sequence[str]) -> list[dict]:
    place = _layout(graph)
    out = []
    for v in graph.vertices:
        u = np.asarray(values[v.name])
        out.append(
            {
                "i": v.index,
                "name": v.name,
                "leaf": v.is_leaf,
                "fn": None if v.is_leaf else v.fn.name,
                "parents": [q.index for q in v.parents],
                "d": int(u.size),
                "u": rounded(u),
                "p": rounded(p[v.name]) if v.name in p else None,
                "param": v.name in params,
                "col": place[v.index][0],
                "row": place[v.index][1],
            }
        )
    return out


def _jacobian(graph, values: Mapping, parent, child) -> dict:
    """What the page shows of D^{j->i}: the matrix, its diagonal, or its closed form."""
    d_i, d_j = np.size(values[child.name]), np.size(values[parent.name])
    if d_i * d_j > DENSE_LIMIT:
        k = child.parents.index(parent)
        form = CLOSED_FORMS.get((child.fn.name, k))
        names = [q.name for q in child.parents]
        text = form(*names).replace("->i}", f"->{child.name}}}") if form else None
        return {"closed": text or f"a {d_i} × {d_j} matrix: too large to show"}
    D = graph.edge_jacobian(values, parent.name, child.name)
    if d_i == d_j and d_i > 1 and not np.any(D - np.diag(np.diag(D))):
        return {"diag": rounded(np.diag(D))}
    return {"J": rounded(D)}


def _term(values: Mapping, p: Mapping, parent, child) -> np.ndarray:
    """p^i J^{j->i}, by the local function's VJP at each position parent j takes."""
    args = [values[q.name] for q in child.parents]
    total = np.zeros(np.shape(values[parent.name]))
    for k, q in enumerate(child.parents):
        if q is parent and child.fn.differentiable[k]:
            total = total + child.fn.vjp(k, p[child.name], values[child.name], *args)
    return total


def _edges(graph, values: Mapping, p: Mapping) -> list[dict]:
    out = []
    for j, i in graph.edges:
        parent, child = graph.vertices[j - 1], graph.vertices[i - 1]
        edge = {
            "j": j,
            "i": i,
            "shape": [int(np.size(values[child.name])), int(np.size(values[parent.name]))],
        }
        positions = [k for k, q in enumerate(child.parents) if q is parent]
        if not any(child.fn.differentiable[k] for k in positions):
            edge["closed"] = (
                f"{parent.name} is an index, not a differentiable argument of {child.fn.name}"
            )
        elif child.name in p:
            edge.update(_jacobian(graph, values, parent, child))
            edge["term"] = rounded(_term(values, p, parent, child))
        out.append(edge)
    return out


def _paths(graph, values: Mapping, p: Mapping) -> dict[str, dict]:
    """For each vertex with a p^j (the output aside): its paths to the output, their
    products of Jacobians and their sum, or only their number when there are many."""
    out = {}
    for v in graph.vertices[:-1]:
        if v.name not in p:
            continue
        count = graph.count_paths(v.name)
        entry: dict = {"count": count}
        if 0 < count <= PATHS_SHOWN:
            terms = graph.path_products(values, v.name)
            entry["paths"] = [[list(e) for e in path] for path, _ in terms]
            if count > 1:
                entry["products"] = [
                    rounded(prod.reshape(np.shape(values[v.name]))) for _, prod in terms
                ]
            total = np.zeros((1, np.size(values[v.name])))
            for _, product in terms:  # the sum path_sum() forms, in its order
                total += product
            entry["sum"] = rounded(total.reshape(np.shape(values[v.name])))
        out[str(v.index)] = entry
    return out


def _sgd(graph, values: Mapping, p: Mapping, params: Sequence[str], eta: float, t) -> dict:
    """One step theta <- theta - eta^t p^theta on ``params``, and the loss o before and after."""
    leaves = {v.name: values[v.name] for v in graph.leaves}
    after = {name: np.asarray(values[name]) - eta * p[name] for name in params}
    moved = graph.forward({**leaves, **after})
    return {
        "eta": float(eta),
        "t": t,
        "params": [
            {"name": name, "i": graph[name].index, "after": rounded(after[name])} for name in params
        ],
        "loss_before": rounded(values[graph.output.name]),
        "loss_after": rounded(moved[graph.output.name]),
    }


def describe(
    graph,
    values: Mapping,
    *,
    params: Sequence[str] = (),
    eta: float | None = None,
    t: int | None = None,
    title: str = "a computational graph",
    notes: Mapping[str, str] | None = None,
) -> dict:
    """The page's data: the graph at ``values`` (the dict ``graph.forward`` returned).

    Parameters
    ----------
    graph : Graph
        With a scalar output u^n.
    values : mapping
        Every vertex's value, as ``graph.forward`` returns them.
    params : sequence of str
        The leaves theta that one SGD step moves (none: no SGD step is shown).
    eta : float, optional
        eta^t, the step size of that step (needed with ``params``).
    t : int, optional
        The step number t, shown beside eta^t.
    title : str
        The page's heading.
    notes : mapping of str to str, optional
        Further facts shown under the heading (the data source, the example, its label).
    """
    params = [graph.vertex_of(name, "explain").name for name in params]
    if params and eta is None:
        raise GraphError("explain: give eta, the step size of the SGD step on params")
    p = graph.backward(values, wrt=[v.name for v in graph.vertices if v not in _indices(graph)])
    out = {
        "title": title,
        "notes": dict(notes or {}),
        "n": graph.n,
        "l": graph.l,
        "digits": DIGITS,
        "vertices": _vertices(graph, values, p, params),
        "edges": _edges(graph, values, p),
        "paths": _paths(graph, values, p),
        "docs": _docs_url(),
    }
    if params:
        out["sgd"] = _sgd(graph, values, p, params, eta, t)
    return out


def _indices(graph) -> set:
    """The leaves used only as arguments that are not differentiable (a class index y):
    they have no p^j."""
    real = set(graph.real_leaves)
    return {
        q
        for v in graph.vertices[graph.l :]
        for k, q in enumerate(v.parents)
        if q.is_leaf and not v.fn.differentiable[k] and q.name not in real
    }


def _docs_url() -> str | None:
    """The notes page of the installed nnclf's documentation (its Documentation URL)."""
    from importlib import metadata

    try:
        urls = metadata.metadata("nnclf").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip() == "Documentation":
            return url.strip().rstrip("/") + "/notes/"
    return None


def render(description: dict) -> str:
    """The self-contained HTML page of a :func:`describe` dict."""
    return embed(template("nnclf.graph", "explain.html"), description)


def write_page(graph, values: Mapping, path, **options) -> Path:
    """Write the page of ``graph`` at ``values`` to ``path`` (atomically); ``options`` go to
    :func:`describe`. Returns the path written."""
    return write_html(path, render(describe(graph, values, **options)))
