"""Computational graphs in the notes' formal sense, with forward and backward passes.

Contract
--------
A :class:`Graph` is built vertex by vertex. Leaves (``Graph.leaf``) are vertices 1..l, numbered
in the order they are added; every other vertex (``Graph.vertex``) gets the next number of
l+1..n and names a :class:`~nnclf.functions.LocalFunction` f^i and an ordered tuple of parents
pi(i) that must already exist, so j < i holds for every edge (j, i) by construction and no
cycle can be made. A vertex may use the same parent twice. The last vertex added is the
output u^n.

- ``forward(leaf_values)``: for i = l+1..n, A^i = <u^j | j in pi(i)> and u^i = f^i(A^i).
- ``backward(values)``: p^n = 1 and p^j = sum_{i:(j,i) in E} p^i J^{j->i}(A^i) for j = n-1..1;
  returns p^j = du^n/du^j for the leaves. ``mode="vjp"`` forms each product p^i J^{j->i}
  without the matrix; ``mode="jacobian"`` builds every J^{j->i} explicitly, as in the notes.
- ``path_sum(values, leaf)``: the theorem p^j = sum over directed paths from j to n of the
  products of the D^{a->b} = J^{a->b}(A^b) along the path.
- ``compile(wrt)``: an :class:`~nnclf.executor.Executor`, the same passes planned once, with
  buffers reused from call to call: the training hot path (see :mod:`nnclf.executor`).

``backward`` is idempotent: every call starts again from p^n = 1 and returns fresh arrays.
Graphs, vertices and values that do not fit raise :class:`~nnclf.errors.GraphError` (a
``ValueError``) naming the vertex; a wrong Python type (a parent that is not a vertex, a
function that is not a :class:`~nnclf.functions.LocalFunction`) is a ``TypeError``, and an
unknown name looked up with ``graph[name]`` a ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Iterable

import numpy as np

from .errors import GraphError
from .functions import LocalFunction
from .tables import format_table

if TYPE_CHECKING:
    from .executor import Executor

__all__ = ["Graph", "Vertex"]

MODES = ("vjp", "jacobian")


class Vertex:
    """One vertex of a :class:`Graph`: a leaf, or a local function of ordered parents."""

    __slots__ = ("graph", "name", "fn", "parents", "_position")

    def __init__(self, graph: "Graph", name: str, fn: LocalFunction | None, parents: tuple):
        self.graph = graph
        self.name = name
        self.fn = fn
        self.parents = parents
        self._position = 0

    @property
    def is_leaf(self) -> bool:
        return self.fn is None

    @property
    def index(self) -> int:
        """The vertex number i of the notes (1-based; leaves first)."""
        offset = 0 if self.is_leaf else len(self.graph._leaves)
        return offset + self._position + 1

    def __repr__(self) -> str:
        if self.is_leaf:
            return f"<leaf {self.index}: {self.name}>"
        args = ", ".join(p.name for p in self.parents)
        return f"<vertex {self.index}: {self.name} = {self.fn.name}({args})>"


class Graph:
    """A computational graph: vertices 1..n, leaves 1..l, edges (j, i) with j < i.

    Examples
    --------
    The notes' example with n = 4, l = 2:

    >>> from nnclf import functions as F
    >>> g = Graph()
    >>> u1, u2 = g.leaf("u1"), g.leaf("u2")
    >>> u3 = g.vertex("u3", F.add, u1, u2)
    >>> u4 = g.vertex("u4", F.mul, u2, u3)
    >>> g.edges
    [(1, 3), (2, 3), (2, 4), (3, 4)]
    >>> values = g.forward({"u1": 1.0, "u2": 2.0})
    >>> float(values["u4"])
    6.0
    >>> {k: float(v) for k, v in g.backward(values).items()}
    {'u1': 2.0, 'u2': 5.0}
    """

    def __init__(self):
        self._leaves: list[Vertex] = []
        self._ops: list[Vertex] = []
        self._by_name: dict[str, Vertex] = {}
        self._executors: dict[tuple, Executor] = {}

    # ------------------------------------------------------------------ building

    def _new(self, name, fn, parents) -> Vertex:
        if not isinstance(name, str) or not name:
            raise GraphError(f"a vertex name must be a non-empty string, got {name!r}")
        if name in self._by_name:
            raise GraphError(f"vertex name '{name}' is already used in this graph; choose another")
        v = Vertex(self, name, fn, parents)
        self._by_name[name] = v
        self._executors.clear()
        return v

    def leaf(self, name: str) -> Vertex:
        """Add a leaf u^j whose value is given to :meth:`forward`."""
        v = self._new(name, None, ())
        v._position = len(self._leaves)
        self._leaves.append(v)
        return v

    def vertex(self, name: str, fn: LocalFunction, *parents: Vertex | str) -> Vertex:
        """Add vertex u^i = f^i(u^{pi(i)_1}, u^{pi(i)_2}, ...); it becomes the output u^n."""
        if not isinstance(fn, LocalFunction):
            raise TypeError(
                f"vertex '{name}': {fn!r} is not a LocalFunction; use one from nnclf.functions "
                "or build one with nnclf.functions.LocalFunction"
            )
        if len(parents) != fn.arity:
            raise GraphError(
                f"vertex '{name}': {fn.name} takes {fn.arity} parents, got {len(parents)}"
            )
        resolved = tuple(self._parent(name, k, p) for k, p in enumerate(parents, start=1))
        v = self._new(name, fn, resolved)
        v._position = len(self._ops)
        self._ops.append(v)
        return v

    def _parent(self, child: str, k: int, p) -> Vertex:
        if isinstance(p, str):
            if p not in self._by_name:
                raise GraphError(
                    f"vertex '{child}': parent {k} '{p}' does not exist; "
                    "add a vertex before its children"
                )
            return self._by_name[p]
        if not isinstance(p, Vertex):
            raise TypeError(f"vertex '{child}': parent {k} must be a Vertex or a name, got {p!r}")
        if p.graph is not self:
            raise GraphError(
                f"vertex '{child}': parent {k} '{p.name}' belongs to another graph"
            )
        return p

    # ------------------------------------------------------------------ structure

    @property
    def leaves(self) -> list[Vertex]:
        """The leaves 1..l in order."""
        return list(self._leaves)

    @property
    def vertices(self) -> list[Vertex]:
        """All vertices 1..n in order."""
        return self._leaves + self._ops

    @property
    def n(self) -> int:
        return len(self._leaves) + len(self._ops)

    @property
    def l(self) -> int:  # noqa: E743 (the notes' name)
        return len(self._leaves)

    @property
    def output(self) -> Vertex:
        """The output vertex u^n: the last vertex added."""
        if not self._ops:
            raise GraphError("the graph has no non-leaf vertex yet, so no output u^n")
        return self._ops[-1]

    def __getitem__(self, name: str) -> Vertex:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no vertex named '{name}'; vertices are {self._names()}") from None

    def _names(self, vertices: Iterable[Vertex] | None = None) -> str:
        return ", ".join(v.name for v in (self.vertices if vertices is None else vertices))

    @property
    def edges(self) -> list[tuple[int, int]]:
        """E: the pairs (j, i), 1-based, ordered by i then by first use among the parents."""
        out = []
        for v in self._ops:
            seen = []
            for p in v.parents:
                if p.index not in seen:
                    seen.append(p.index)
            out.extend((j, v.index) for j in seen)
        return out

    def parents(self, name: str) -> tuple[str, ...]:
        """pi(i): the names of the parents of vertex ``name``, in argument order."""
        return tuple(p.name for p in self[name].parents)

    # ------------------------------------------------------------------ forward

    def forward(self, leaf_values: Mapping) -> dict[str, np.ndarray]:
        """The forward pass: u^i = f^i(A^i) for i = l+1..n.

        Parameters
        ----------
        leaf_values : mapping
            A value for every leaf, by name.

        Returns
        -------
        dict
            Every vertex name -> its value u^i (leaves included).
        """
        values = self._leaf_values(leaf_values, "forward")
        for v in self._ops:
            args = [values[p.name] for p in v.parents]
            values[v.name] = self._apply(v, args)
        return values

    def _leaf_values(self, leaf_values: Mapping, caller: str) -> dict:
        if not isinstance(leaf_values, Mapping):
            raise TypeError(f"{caller}: give the leaf values as a dict of name -> value")
        unknown = [k for k in leaf_values if k not in self._by_name or not self._by_name[k].is_leaf]
        if unknown:
            raise GraphError(
                f"{caller}: '{unknown[0]}' is not a leaf of this graph; "
                f"leaves are {self._names(self._leaves)}"
            )
        values = {}
        for v in self._leaves:
            if v.name not in leaf_values:
                raise GraphError(f"{caller}: no value for leaf '{v.name}'")
            values[v.name] = np.asarray(leaf_values[v.name])
        return values

    def _apply(self, v: Vertex, args: list):
        try:
            v.fn.check(*args)
            return v.fn.forward(*args)
        except (ValueError, IndexError, TypeError) as e:
            raise GraphError(self._where(v) + str(e)) from None

    def _where(self, v: Vertex) -> str:
        args = ", ".join(p.name for p in v.parents)
        return f"vertex '{v.name}' = {v.fn.name}({args}): "

    # ------------------------------------------------------------------ backward

    def _backward_plan(self, wrt: tuple[str, ...]) -> list[tuple[Vertex, list[tuple[int, Vertex]]]]:
        """For each vertex i from n down to l+1, the argument positions k whose parent j
        needs p^j: those on a directed path from a leaf in ``wrt`` to the output."""
        from_wrt = {name: True for name in wrt}
        for v in self._ops:
            from_wrt[v.name] = any(
                from_wrt.get(p.name, False) and v.fn.differentiable[k]
                for k, p in enumerate(v.parents)
            )
        to_output = {self.output.name}
        plan = []
        for v in reversed(self._ops):
            if v.name not in to_output:
                continue
            edges = [
                (k, p) for k, p in enumerate(v.parents)
                if v.fn.differentiable[k] and from_wrt.get(p.name, False)
            ]
            if edges:
                plan.append((v, edges))
                to_output.update(p.name for _, p in edges)
        return plan

    def _check_wrt(self, wrt, caller: str) -> tuple[str, ...]:
        if wrt is None:
            return tuple(v.name for v in self._leaves)
        if isinstance(wrt, str):
            wrt = (wrt,)
        wrt = tuple(wrt)
        for name in wrt:
            if name not in self._by_name or not self._by_name[name].is_leaf:
                raise GraphError(
                    f"{caller}: '{name}' is not a leaf; leaves are {self._names(self._leaves)}"
                )
        return wrt

    def _check_values(self, values: Mapping, caller: str) -> None:
        for v in self.vertices:
            if v.name not in values:
                raise GraphError(
                    f"{caller}: no value for vertex '{v.name}'; pass the dict that forward() returned"
                )
        out = self.output
        if np.size(values[out.name]) != 1:
            raise GraphError(
                f"{caller}: the output '{out.name}' has shape {np.shape(values[out.name])}; "
                "backpropagation needs a scalar output (d_n = 1)"
            )

    def backward(self, values: Mapping, mode: str = "vjp", wrt=None) -> dict[str, np.ndarray]:
        """The backward pass: p^n = 1, p^j = sum_{i:(j,i) in E} p^i J^{j->i}(A^i).

        Parameters
        ----------
        values : mapping
            The dict returned by :meth:`forward`.
        mode : {"vjp", "jacobian"}
            ``"vjp"`` computes each p^i J^{j->i} without forming J (fast); ``"jacobian"``
            builds every J^{j->i}(A^i) as an explicit (d_i, d_j) matrix, as in the notes.
        wrt : str or sequence of str, optional
            The leaves whose p^j are wanted (default: all). Vertices on no path from these
            leaves to the output are skipped.

        Returns
        -------
        dict
            Leaf name -> p^j = du^n/du^j, a new float array shaped like the leaf. A leaf with
            no path to the output through differentiable arguments gets zeros.
        """
        if mode not in MODES:
            raise GraphError(f"backward: unknown mode {mode!r}; use 'vjp' or 'jacobian'")
        wrt = self._check_wrt(wrt, "backward")
        self._check_values(values, "backward")
        plan = self._backward_plan(wrt)
        if mode == "vjp":
            p = {self.output.name: np.ones(np.shape(values[self.output.name]))}
            for v, edges in plan:
                args = [values[q.name] for q in v.parents]
                for k, parent in edges:
                    c = v.fn.vjp(k, p[v.name], values[v.name], *args)
                    p[parent.name] = c if parent.name not in p else p[parent.name] + c
        else:
            p = {self.output.name: np.ones((1, 1))}
            for v, edges in plan:
                for j, D in self._edge_jacobians(v, values, {q for _, q in edges}).items():
                    c = p[v.name] @ D
                    p[j.name] = c if j.name not in p else p[j.name] + c
        return {
            name: self._shaped(p.get(name), values[name]) for name in wrt
        }

    @staticmethod
    def _shaped(p, leaf_value) -> np.ndarray:
        shape = np.shape(leaf_value)
        if p is None:
            return np.zeros(shape)
        return np.array(p, dtype=float).reshape(shape)

    def _edge_jacobians(self, v: Vertex, values: Mapping, parents=None) -> dict[Vertex, np.ndarray]:
        """D^{j->i} = J^{j->i}(A^i) for each distinct parent j of vertex i; a parent used at
        several argument positions gets the sum of their Jacobians."""
        args = [values[q.name] for q in v.parents]
        out: dict[Vertex, np.ndarray] = {}
        for k, q in enumerate(v.parents):
            if parents is not None and q not in parents:
                continue
            J = v.fn.jacobian(k, values[v.name], *args)
            out[q] = J if q not in out else out[q] + J
        return out

    # ------------------------------------------------------------------ paths

    def paths(self, leaf: str) -> list[tuple[int, ...]]:
        """P(j, n): every directed path from vertex ``leaf`` to the output, as vertex numbers."""
        start = self._path_start(leaf, "paths")
        children: dict[int, list[int]] = {}
        for j, i in self.edges:
            children.setdefault(j, []).append(i)
        target, found, stack = self.output.index, [], [(start.index,)]
        while stack:
            path = stack.pop()
            if path[-1] == target:
                found.append(path)
                continue
            stack.extend(path + (c,) for c in reversed(children.get(path[-1], [])))
        return found

    def _path_start(self, leaf: str, caller: str) -> Vertex:
        if leaf not in self._by_name or not self._by_name[leaf].is_leaf:
            raise GraphError(
                f"{caller}: '{leaf}' is not a leaf; leaves are {self._names(self._leaves)}"
            )
        return self._by_name[leaf]

    def path_sum(self, values: Mapping, leaf: str) -> np.ndarray:
        """du^n/du^j as the notes' theorem states it: the sum over all directed paths p from
        j to n of the product of D^{a->b} = J^{a->b}(A^b) over the edges (a, b) of p.

        Exponential in the number of paths; meant for teaching and verification.
        """
        self._path_start(leaf, "path_sum")
        self._check_values(values, "path_sum")
        D = {}
        for v in self._ops:
            for q, J in self._edge_jacobians(v, values).items():
                D[(q.index, v.index)] = J
        total = np.zeros((1, np.size(values[leaf])))
        for path in self.paths(leaf):
            product = D[(path[0], path[1])]
            for a, b in zip(path[1:], path[2:]):
                product = D[(a, b)] @ product
            total = total + product
        return total.reshape(np.shape(values[leaf]))

    # ------------------------------------------------------------------ display

    def _label(self, v: Vertex, values: Mapping | None) -> str:
        text = f"{v.index}: {v.name}"
        if not v.is_leaf:
            text += f" = {v.fn.name}({', '.join(p.name for p in v.parents)})"
        if values is not None and v.name in values:
            shape = values[v.name]
            shape = tuple(shape) if isinstance(shape, tuple) else np.shape(shape)
            text += f"\\nd = {int(np.prod(shape))}, shape {shape}"
        return text

    def to_dot(self, values: Mapping | None = None) -> str:
        """Graphviz DOT text: each vertex with its number and name (and, given values or
        shapes by name, its dimension d_i), each edge (j, i); leaves are drawn as boxes."""
        lines = ["digraph computational_graph {", "  rankdir=LR;"]
        for v in self.vertices:
            shape = "box" if v.is_leaf else ("doublecircle" if v is self.output else "ellipse")
            lines.append(f'  v{v.index} [label="{self._label(v, values)}", shape={shape}];')
        lines.extend(f"  v{j} -> v{i};" for j, i in self.edges)
        lines.append("}")
        return "\n".join(lines) + "\n"

    def summary(self, values: Mapping | None = None) -> str:
        """A table of the vertices: number, name, local function, parents, shape."""
        rows = [["i", "name", "f^i", "parents pi(i)", "shape"]]
        for v in self.vertices:
            shape = "" if values is None or v.name not in values else str(np.shape(values[v.name]))
            rows.append([str(v.index), v.name, "leaf" if v.is_leaf else v.fn.name,
                         ", ".join(str(p.index) for p in v.parents), shape])
        return format_table(rows)

    def __repr__(self) -> str:
        return f"<Graph n={self.n} l={self.l}: {self._names()}>"

    # ------------------------------------------------------------------ compiled

    def compile(self, wrt=None) -> "Executor":
        """The graph planned once for many forward/backward passes (see
        :class:`nnclf.executor.Executor`)."""
        from .executor import Executor  # the executor builds on the graph, not the reverse

        wrt = self._check_wrt(wrt, "compile")
        if wrt not in self._executors:
            self._executors[wrt] = Executor(self, wrt)
        return self._executors[wrt]
