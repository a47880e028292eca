"""Computational graphs in the notes' formal sense, with forward and backward passes.

Contract
--------
A :class:`Graph` is built vertex by vertex. Leaves (``Graph.leaf``) are vertices 1..l, numbered
in the order they are added; every other vertex (``Graph.vertex``) gets the next number of
l+1..n and names a :class:`~nnclf.graph.functions.LocalFunction` f^i and an ordered tuple of parents
pi(i) that must already exist, so j < i holds for every edge (j, i) by construction and no
cycle can be made. A vertex may use the same parent twice. The last vertex added is the
output u^n.

Wherever a vertex is asked for, it may be named by its name (str) or by its number i (int,
1-based as in the notes).

- ``forward(leaf_values)``: for i = l+1..n, A^i = <u^j | j in pi(i)> and u^i = f^i(A^i).
- ``global_function(k)``: f-bar^k, the function from the leaf values to u^k.
- ``backward(values, wrt=...)``: p^n = 1 and p^j = sum_{i:(j,i) in E} p^i J^{j->i}(A^i) for
  j = n-1..1; returns p^i for the vertices ``wrt`` (leaves or not): du^n/du^i with u^i taken
  as a free input. ``mode="vjp"`` forms each product p^i J^{j->i} without the matrix;
  ``mode="jacobian"`` builds every J^{j->i} explicitly, as in the notes.
- ``count_paths(j, k)``, ``paths(j, k)``, ``path_sum(values, j, k)``: P(j, k), the directed
  paths from j to k as lists of edges (a, b), and the theorem du^k/du^j = sum over P(j, k) of
  the products of the D^{a->b} = J^{a->b}(A^b) along each path. Paths are counted first (by
  dynamic programming), so a graph with too many to enumerate is refused before any work.
- ``compile(wrt)``: an :class:`~nnclf.graph.executor.Executor`, the same passes planned once, with
  buffers reused from call to call: the training hot path (see :mod:`nnclf.graph.executor`).

Leaves are real-valued (cast to the graph's floating ``dtype`` on the way in, by every pass)
unless every use of them is a non-differentiable argument, as the class index y of
:data:`~nnclf.graph.neg_pick` is: such a leaf keeps its integer dtype.

``backward`` is idempotent: every call starts again from p^n = 1 and returns fresh arrays.
Graphs, vertices and values that do not fit raise :class:`~nnclf.errors.GraphError` (a
``ValueError``) naming the vertex ("vertex 3 (u3)"); a wrong Python type (a parent that is not
a vertex, a function that is not a :class:`~nnclf.graph.functions.LocalFunction`) is a ``TypeError``,
and an unknown name looked up with ``graph[name]`` a ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from nnclf.base.tables import format_table
from nnclf.errors import GraphError
from nnclf.graph.executor import Executor
from nnclf.graph.functions import LocalFunction

__all__ = ["Graph", "Vertex", "GlobalFunction", "PATH_LIMIT"]

MODES = ("vjp", "jacobian")

PATH_LIMIT = 100_000
"""The most directed paths :meth:`Graph.paths` and :meth:`Graph.path_sum` enumerate by default."""


class Vertex:
    """One vertex of a :class:`Graph`: a leaf, or a local function of ordered parents."""

    __slots__ = ("graph", "name", "fn", "parents", "_position")

    def __init__(self, graph: Graph, name: str, fn: LocalFunction | None, parents: tuple):
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

    >>> import nnclf.graph as F
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
    >>> g.paths("u2")
    [[(2, 3), (3, 4)], [(2, 4)]]

    Parameters
    ----------
    dtype : floating numpy dtype, default float64
        The graph's floating dtype: real-valued leaves are cast to it on the way in, and a
        compiled executor allocates its buffers in it.
    """

    def __init__(self, dtype=np.float64):
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise GraphError(f"dtype must be a numpy floating dtype, got {dtype!r}") from None
        if self.dtype.kind != "f":
            raise GraphError(f"dtype must be a floating dtype such as float64, got {self.dtype}")
        self._leaves: list[Vertex] = []
        self._ops: list[Vertex] = []
        self._by_name: dict[str, Vertex] = {}
        self._executors: dict[tuple, Executor] = {}
        self._real: frozenset[str] | None = None

    # ------------------------------------------------------------------ building

    def _new(self, name, fn, parents) -> Vertex:
        if not isinstance(name, str) or not name:
            raise GraphError(f"a vertex name must be a non-empty string, got {name!r}")
        if name in self._by_name:
            raise GraphError(f"vertex name '{name}' is already used in this graph; choose another")
        v = Vertex(self, name, fn, parents)
        self._by_name[name] = v
        self._executors.clear()
        self._real = None
        return v

    def astype(self, dtype) -> Graph:
        """The same graph (vertices, names, local functions, parents) in another ``dtype``."""
        copy = Graph(dtype)
        for v in self._leaves:
            copy.leaf(v.name)
        for v in self._ops:
            copy.vertex(v.name, v.fn, *(p.name for p in v.parents))
        return copy

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
                f"vertex '{name}': {fn!r} is not a LocalFunction; use one from nnclf.graph.functions "
                "or build one with nnclf.graph.functions.LocalFunction"
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
            raise GraphError(f"vertex '{child}': parent {k} '{p.name}' belongs to another graph")
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

    def vertex_of(self, ref, caller: str = "graph") -> Vertex:
        """The vertex named ``ref`` (a str) or numbered ``ref`` (an int i, 1-based as in the
        notes); ``caller`` starts the error message when there is none."""
        if isinstance(ref, Vertex) and ref.graph is self:
            return ref
        if isinstance(ref, str):
            if ref in self._by_name:
                return self._by_name[ref]
            raise GraphError(f"{caller}: no vertex named '{ref}'; vertices are {self._names()}")
        if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
            if 1 <= ref <= self.n:
                return self.vertices[int(ref) - 1]
            raise GraphError(f"{caller}: no vertex {ref}; vertices are numbered 1..{self.n}")
        raise TypeError(f"{caller}: name a vertex by its name (str) or number i (int), got {ref!r}")

    @staticmethod
    def _named(v: Vertex) -> str:
        return f"vertex {v.index} ({v.name})"

    @property
    def real_leaves(self) -> tuple[str, ...]:
        """The leaves used at least once as a differentiable argument: real-valued, cast to
        :attr:`dtype` on the way in. The others (a class index) keep their dtype."""
        real = self._real_names()
        return tuple(v.name for v in self._leaves if v.name in real)

    def _real_names(self) -> frozenset[str]:
        if self._real is None:
            self._real = frozenset(
                p.name
                for v in self._ops
                for k, p in enumerate(v.parents)
                if p.is_leaf and v.fn.differentiable[k]
            )
        return self._real

    def leaf_array(self, name: str, value, caller: str = "forward") -> np.ndarray:
        """``value`` as the array leaf ``name`` holds: cast to :attr:`dtype` when the leaf is
        real-valued (not copied when it already has that dtype), as given otherwise."""
        if name not in self._real_names():
            return np.asarray(value)
        try:
            return np.asarray(value, dtype=self.dtype)
        except (TypeError, ValueError):
            raise GraphError(
                f"{caller}: leaf '{name}' must hold real numbers, got {type(value).__name__} "
                f"{str(value)[:40]!r}"
            ) from None

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
            Every vertex name -> its value u^i (leaves included, real-valued ones cast to
            :attr:`dtype`).
        """
        return self._evaluate(leaf_values, self._leaves, self._ops, "forward")

    def _evaluate(self, leaf_values: Mapping, leaves: list, ops: list, caller: str) -> dict:
        """The forward pass over ``ops`` (in order), from the values of ``leaves``."""
        values = self._leaf_values(leaf_values, leaves, caller)
        for v in ops:
            args = [values[p.name] for p in v.parents]
            values[v.name] = self._apply(v, args)
        return values

    def _leaf_values(self, leaf_values: Mapping, leaves: list, caller: str) -> dict:
        if not isinstance(leaf_values, Mapping):
            raise TypeError(f"{caller}: give the leaf values as a dict of name -> value")
        unknown = [k for k in leaf_values if k not in self._by_name or not self._by_name[k].is_leaf]
        if unknown:
            raise GraphError(
                f"{caller}: '{unknown[0]}' is not a leaf of this graph; "
                f"leaves are {self._names(self._leaves)}"
            )
        values = {}
        for v in leaves:
            if v.name not in leaf_values:
                raise GraphError(f"{caller}: no value for leaf '{v.name}'")
            values[v.name] = self.leaf_array(v.name, leaf_values[v.name], caller)
        return values

    def global_function(self, k) -> GlobalFunction:
        """f-bar^k: the function from the leaf values to u^k that the graph defines.

        The notes define p^j = du^n/du^j as a partial derivative of f-bar^n; this is that
        function (and f-bar^k for any non-leaf k), to differentiate by other means.

        Parameters
        ----------
        k : str or int
            A non-leaf vertex (the notes' k in l+1..n).

        Returns
        -------
        GlobalFunction
            ``fbar(leaf_values) -> u^k``: runs the forward pass over the vertices u^k
            depends on; ``leaf_values`` must hold the leaves among them (others are ignored).
        """
        return GlobalFunction(self, self._non_leaf(k, "global_function", "k"))

    def _non_leaf(self, ref, caller: str, what: str) -> Vertex:
        v = self.vertex_of(ref, caller)
        if v.is_leaf:
            raise GraphError(
                f"{caller}: {what} must be a non-leaf vertex (the notes' {what} in l+1..n = "
                f"{self.l + 1}..{self.n}); {self._named(v)} is a leaf"
            )
        return v

    def _ancestors(self, v: Vertex) -> set[str]:
        """The names of v and of every vertex with a directed path to v."""
        found, stack = {v.name}, [v]
        while stack:
            for p in stack.pop().parents:
                if p.name not in found:
                    found.add(p.name)
                    stack.append(p)
        return found

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
        needs p^j: those on a directed path from a vertex in ``wrt`` to the output."""
        from_wrt = set(wrt)
        for v in self._ops:
            if any(p.name in from_wrt and v.fn.differentiable[k] for k, p in enumerate(v.parents)):
                from_wrt.add(v.name)
        to_output = {self.output.name}
        plan = []
        for v in reversed(self._ops):
            if v.name not in to_output:
                continue
            edges = [
                (k, p)
                for k, p in enumerate(v.parents)
                if v.fn.differentiable[k] and p.name in from_wrt
            ]
            if edges:
                plan.append((v, edges))
                to_output.update(p.name for _, p in edges)
        return plan

    def _check_wrt(self, wrt, caller: str) -> tuple[str, ...]:
        """The names of the vertices ``wrt`` names (default: every leaf)."""
        if wrt is None:
            return tuple(v.name for v in self._leaves)
        if isinstance(wrt, (str, int, np.integer, Vertex)):
            wrt = (wrt,)
        return tuple(self.vertex_of(ref, caller).name for ref in wrt)

    def _check_values(self, values: Mapping, caller: str, scalar_output: bool = True) -> None:
        for v in self.vertices:
            if v.name not in values:
                raise GraphError(
                    f"{caller}: no value for vertex '{v.name}'; pass the dict that forward() returned"
                )
        out = self.output
        if scalar_output and np.size(values[out.name]) != 1:
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
        wrt : vertex or sequence of vertices, optional
            The vertices whose p^i are wanted, by name or number (default: every leaf); leaves
            or not. Vertices on no path from these to the output are skipped.

        Returns
        -------
        dict
            Vertex name -> p^i, a new array of the graph's dtype shaped like u^i. For a leaf
            it is du^n/du^i (the notes' theorem); for a non-leaf vertex it is the p^i of the
            pass, sum over its children c of p^c J^{i->c}: du^n/du^i with u^i taken as a free
            input. A vertex with no path to the output through differentiable arguments gets
            zeros; the output itself gets p^n = 1.
        """
        if mode not in MODES:
            raise GraphError(f"backward: unknown mode {mode!r}; use 'vjp' or 'jacobian'")
        wrt = self._check_wrt(wrt, "backward")
        self._check_values(values, "backward")
        plan = self._backward_plan(wrt)
        if mode == "vjp":
            p = {self.output.name: np.ones(np.shape(values[self.output.name]), dtype=self.dtype)}
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
        return {name: self._shaped(p.get(name), values[name]) for name in wrt}

    def _shaped(self, p, value) -> np.ndarray:
        shape = np.shape(value)
        if p is None:
            return np.zeros(shape, dtype=self.dtype)
        return np.array(p, dtype=self.dtype).reshape(shape)

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

    def _path_ends(self, j, k, caller: str) -> tuple[Vertex, Vertex]:
        """The vertices j (any) and k (a non-leaf; default the output) of P(j, k)."""
        start = self.vertex_of(j, caller)
        end = self.output if k is None else self._non_leaf(k, caller, "k")
        return start, end

    def _between(self, j: Vertex, k: Vertex) -> tuple[dict[int, list[int]], dict[int, int]]:
        """The edges on some path from j to k, as children lists by vertex number, and the
        number of paths from j to each vertex on them (the dynamic programme: vertex numbers
        are a topological order, so one sweep j+1..k counts every path once)."""
        parents: dict[int, list[int]] = {}
        for a, b in self.edges:
            if j.index <= a and b <= k.index:
                parents.setdefault(b, []).append(a)
        count = {j.index: 1}
        for i in range(j.index + 1, k.index + 1):
            n_i = sum(count.get(a, 0) for a in parents.get(i, ()))
            if n_i:
                count[i] = n_i
        reaches_k = {k.index}
        children: dict[int, list[int]] = {}
        for i in range(k.index, j.index, -1):
            for a in parents.get(i, ()):
                if i in reaches_k and a in count:
                    reaches_k.add(a)
                    children.setdefault(a, []).append(i)
        for a in children:
            children[a].sort()
        return children, count

    def count_paths(self, j, k=None) -> int:
        """|P(j, k)|: the number of directed paths from vertex j (any) to vertex k (a
        non-leaf, default the output n), by name or number, counted by dynamic programming:
        no path is enumerated. 0 when j == k."""
        start, end = self._path_ends(j, k, "count_paths")
        return 0 if start is end else self._between(start, end)[1].get(end.index, 0)

    def _checked_paths(self, start: Vertex, end: Vertex, limit: int, caller: str):
        """P(start, end), after counting it and refusing more than ``limit`` paths."""
        children, count = self._between(start, end)
        total = 0 if start is end else count.get(end.index, 0)
        if total > limit:
            # backward() gives du^n/du^j only: to another k the one way round is raising limit.
            fix = (
                "use backward(), which gives the same number in one pass, or raise limit"
                if end is self.output
                else "raise limit"
            )
            raise GraphError(
                f"{caller}: {total} directed paths from {self._named(start)} to "
                f"{self._named(end)}, more than limit={limit}; {fix}"
            )
        found: list[list[tuple[int, int]]] = []
        if total == 0:
            return found
        stack = [(start.index, [])]
        while stack:
            a, path = stack.pop()
            if a == end.index:
                found.append(path)
                continue
            stack.extend((b, path + [(a, b)]) for b in reversed(children[a]))
        return found

    def paths(self, j, k=None, limit: int = PATH_LIMIT) -> list[list[tuple[int, int]]]:
        """P(j, k): every directed path from vertex j to vertex k, each a list of edges
        (a, b) in E with 1-based vertex numbers, from (j, .) to (., k).

        Parameters
        ----------
        j : str or int
            Any vertex, by name or number.
        k : str or int, optional
            A non-leaf vertex (the notes' k in l+1..n); default the output n.
        limit : int
            The most paths to enumerate: more raise ``GraphError`` stating their number,
            before any is built (see :meth:`count_paths`).

        Returns
        -------
        list of lists of (int, int)
            In a fixed order: depth first, smaller vertex numbers first. Empty when j == k
            or no path leads from j to k.
        """
        start, end = self._path_ends(j, k, "paths")
        return self._checked_paths(start, end, limit, "paths")

    def path_sum(self, values: Mapping, j, k=None, limit: int = PATH_LIMIT) -> np.ndarray:
        """du^k/du^j as the notes' theorem states it: the sum over the directed paths p in
        P(j, k) of the product of D^{a->b} = J^{a->b}(A^b) over the edges (a, b) of p, taken
        in the notes' order D^{last} ... D^{first}.

        The cost is linear in the number of paths, which can grow exponentially with the
        depth of the graph (2^t for t diamonds in series): the paths are counted first and
        more than ``limit`` is an error. Meant for teaching and verification;
        :meth:`backward` gives p^j = du^n/du^j in one pass.

        Parameters
        ----------
        values : mapping
            The dict returned by :meth:`forward`.
        j : str or int
            Any vertex, by name or number.
        k : str or int, optional
            A non-leaf vertex (the notes' k in l+1..n); default the output n.
        limit : int
            The most paths to sum over (see :meth:`paths`).

        Returns
        -------
        ndarray
            The Jacobian du^k/du^j, of shape (d_k, d_j) (arrays are vectors of their
            entries in row-major order). When k is the output and d_n = 1, it is shaped like
            u^j instead, as :meth:`backward`'s p^j is. Zeros when P(j, k) is empty.
        """
        start, end = self._path_ends(j, k, "path_sum")
        total = np.zeros((np.size(values[end.name]), np.size(values[start.name])))
        for _, product in self._path_products(values, start, end, limit, "path_sum"):
            total += product
        if end is self.output:
            return total.reshape(np.shape(values[start.name]))
        return total

    def path_products(
        self, values: Mapping, j, k=None, limit: int = PATH_LIMIT
    ) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
        """The terms of :meth:`path_sum`: for each path p in P(j, k) (in :meth:`paths`'
        order), the pair (p, D^{last} ... D^{first}), a (d_k, d_j) matrix."""
        start, end = self._path_ends(j, k, "path_products")
        return self._path_products(values, start, end, limit, "path_products")

    def _path_products(self, values: Mapping, start: Vertex, end: Vertex, limit: int, caller):
        self._check_values(values, caller, scalar_output=end is self.output)
        paths = self._checked_paths(start, end, limit, caller)
        on_paths = {e for path in paths for e in path}
        D = {}
        for v in self._ops:
            wanted = {q for q in v.parents if (q.index, v.index) in on_paths}
            if wanted:
                for q, J in self._edge_jacobians(v, values, wanted).items():
                    D[(q.index, v.index)] = J
        out = []
        for path in paths:
            product = D[path[0]]
            for edge in path[1:]:
                product = D[edge] @ product
            out.append((path, product))
        return out

    def edge_jacobian(self, values: Mapping, j, i) -> np.ndarray:
        """D^{j->i} = J^{j->i}(A^i), the (d_i, d_j) Jacobian of edge (j, i) at ``values`` (the
        dict :meth:`forward` returned); a parent used at several argument positions gets the
        sum of their Jacobians. An argument that is not differentiable (a class index) is a
        GraphError."""
        child = self._non_leaf(i, "edge_jacobian", "i")
        parent = self.vertex_of(j, "edge_jacobian")
        if parent not in child.parents:
            raise GraphError(
                f"edge_jacobian: ({parent.index}, {child.index}) is not an edge; the edges are "
                f"{self.edges}"
            )
        if not any(child.fn.differentiable[k] for k, q in enumerate(child.parents) if q is parent):
            raise GraphError(
                f"edge_jacobian: {self._named(parent)} is not a differentiable argument of "
                f"{self._named(child)}"
            )
        self._check_values(values, "edge_jacobian", scalar_output=False)
        return self._edge_jacobians(child, values, {parent})[parent]

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
            rows.append(
                [
                    str(v.index),
                    v.name,
                    "leaf" if v.is_leaf else v.fn.name,
                    ", ".join(str(p.index) for p in v.parents),
                    shape,
                ]
            )
        return format_table(rows)

    def explain(self, values: Mapping, path, **options):
        """Write a self-contained interactive HTML page of this graph at ``values`` (the dict
        :meth:`forward` returned) to ``path``: the forward and backward passes step by step,
        each edge's Jacobian, each vertex's paths and their sum, and, given ``params`` (leaf
        names) and ``eta``, one SGD step. Options: see :func:`nnclf.graph.explain.describe`.
        Returns the path written."""
        from nnclf.graph.explain import write_page

        self._check_values(values, "explain")
        return write_page(self, values, path, **options)

    def __repr__(self) -> str:
        return f"<Graph n={self.n} l={self.l}: {self._names()}>"

    # ------------------------------------------------------------------ compiled

    def compile(self, wrt=None) -> Executor:
        """The graph planned once for many forward/backward passes (see
        :class:`nnclf.graph.executor.Executor`)."""
        wrt = self._check_wrt(wrt, "compile")
        if wrt not in self._executors:
            self._executors[wrt] = Executor(self, wrt)
        return self._executors[wrt]


class GlobalFunction:
    """f-bar^k: the function from the leaf values to u^k defined by a graph (the notes'
    "global function"), made by :meth:`Graph.global_function`.

    ``fbar(leaf_values)`` runs the forward pass over u^k and the vertices it depends on, and
    returns u^k. ``leaf_values`` must hold the leaves among them (:attr:`leaves`); other
    leaves of the graph may be given too and are ignored.
    """

    def __init__(self, graph: Graph, vertex: Vertex):
        self.graph = graph
        self.vertex = vertex
        needed = graph._ancestors(vertex)
        self._leaves = [v for v in graph._leaves if v.name in needed]
        self._ops = [v for v in graph._ops if v.name in needed]
        self.__name__ = f"fbar^{vertex.index}"

    @property
    def leaves(self) -> tuple[str, ...]:
        """The leaves u^k depends on, in order."""
        return tuple(v.name for v in self._leaves)

    def __call__(self, leaf_values: Mapping):
        return self.graph._evaluate(leaf_values, self._leaves, self._ops, self.__name__)[
            self.vertex.name
        ]

    def __repr__(self) -> str:
        return (
            f"<global function {self.__name__}: u^{self.vertex.index} ({self.vertex.name}) "
            f"of the leaves {', '.join(self.leaves)}>"
        )
