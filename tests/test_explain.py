"""nnclf explain and Graph.explain: the page's data against the graph's own passes and
hand-derived values, and the page itself in a real browser (tests marked by ``open_page``
skip without the browser extra and Chromium)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from pages import screenshot, shown, to_digits

import nnclf.graph as F
from nnclf.cli import main
from nnclf.graph import Graph, Network
from nnclf.graph.explain import describe

RTOL = 6e-6  # 6 significant digits: half a unit of the 6th digit is at most 5e-6 relative
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def notes_graph():
    """The notes' example: u3 = u1 + u2, u4 = u2 u3."""
    g = Graph()
    g.leaf("u1"), g.leaf("u2")
    g.vertex("u3", F.add, "u1", "u2")
    g.vertex("u4", F.mul, "u2", "u3")
    return g, g.forward({"u1": 1.0, "u2": 2.0})


def network(hidden=5, seed=3):
    net = Network(4, hidden, 3, seed=seed)
    x = np.random.default_rng(seed).normal(size=4)
    return net, net.graph.forward(net.leaf_values(x, 1))


def page_data(path) -> dict:
    text = path.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def test_the_notes_example_is_described_with_hand_derived_numbers():
    g, values = notes_graph()
    d = describe(g, values)
    assert [v["name"] for v in d["vertices"]] == ["u1", "u2", "u3", "u4"]
    assert [(e["j"], e["i"]) for e in d["edges"]] == g.edges
    # u3 = 3, u4 = 6; p^4 = 1, p^3 = u2 = 2, p^2 = u3 + u2 = 5, p^1 = p^3 = 2
    assert [v["u"]["v"] for v in d["vertices"]] == [[1.0], [2.0], [3.0], [6.0]]
    assert [v["p"]["v"] for v in d["vertices"]] == [[2.0], [5.0], [2.0], [1.0]]
    J = {(e["j"], e["i"]): e["J"]["v"] for e in d["edges"]}
    assert J == {(1, 3): [1.0], (2, 3): [1.0], (2, 4): [3.0], (3, 4): [2.0]}
    two = d["paths"]["2"]
    assert two["count"] == 2 and two["paths"] == [[[2, 3], [3, 4]], [[2, 4]]]
    assert [p["v"] for p in two["products"]] == [[2.0], [3.0]] and two["sum"]["v"] == [5.0]
    assert "sgd" not in d


def test_the_network_page_data_is_what_the_passes_compute():
    net, values = network()
    g = net.graph
    d = describe(g, values, params=net.param_names, eta=0.1, t=7)
    p = g.backward(values, wrt=[v.name for v in g.vertices if v.name != "y"])
    for v in d["vertices"]:
        np.testing.assert_allclose(v["u"]["v"], np.ravel(values[v["name"]]), rtol=RTOL)
        if v["name"] != "y":
            np.testing.assert_allclose(v["p"]["v"], np.ravel(p[v["name"]]), rtol=RTOL, atol=1e-12)
    assert {(e["j"], e["i"]) for e in d["edges"]} == set(g.edges)
    z, W = values["z"], values["W"]
    edges = {(e["j"], e["i"]): e for e in d["edges"]}
    np.testing.assert_allclose(edges[(2, 7)]["J"]["v"], W.ravel(), rtol=RTOL)  # J^{x->z} = W
    np.testing.assert_allclose(edges[(7, 8)]["diag"]["v"], 1 - np.tanh(z) ** 2, rtol=RTOL)
    # the term p^z J^{W->z} is the outer product p^z x^T
    np.testing.assert_allclose(
        edges[(1, 7)]["term"]["v"], np.outer(p["z"], values["x"]).ravel(), rtol=RTOL, atol=1e-12
    )
    assert "index" in edges[(6, 11)]["closed"] and "term" not in edges[(6, 11)]
    sgd = d["sgd"]
    assert (sgd["eta"], sgd["t"]) == (0.1, 7)
    moved = {}
    for q in sgd["params"]:
        moved[q["name"]] = values[q["name"]] - 0.1 * p[q["name"]]
        np.testing.assert_allclose(q["after"]["v"], moved[q["name"]].ravel(), rtol=RTOL, atol=1e-12)
    after = Network.from_params(moved).loss(values["x"][None], np.array([1]))
    np.testing.assert_allclose(sgd["loss_after"]["v"], [after], rtol=RTOL)


def test_a_large_jacobian_is_shown_by_its_closed_form():
    from nnclf.graph import explain

    net, values = network(hidden=200)
    edges = {(e["j"], e["i"]): e for e in describe(net.graph, values)["edges"]}
    assert 200 * 800 > explain.DENSE_LIMIT
    assert edges[(1, 7)]["closed"].startswith("J^{W->z} = I ⊗ x^T") and "J" not in edges[(1, 7)]


def test_the_template_is_shipped_with_the_package():
    text = resources.files("nnclf.graph").joinpath("templates", "explain.html").read_text()
    assert (
        "/*DATA*/" in text
        and "<script src" not in text
        and "http" not in text.replace("http://www.w3.org/2000/svg", "")
    )


def test_graph_explain_writes_a_page_whose_data_round_trips(tmp_path):
    g, values = notes_graph()
    path = g.explain(values, tmp_path / "notes.html", title="</script><b>x</b>")
    data = page_data(path)
    assert data["title"] == "</script><b>x</b>"
    assert data == json.loads(json.dumps(describe(g, values, title="</script><b>x</b>")))


def test_explain_a_config_and_a_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "seed: 1\ndata: {source: 'sklearn:iris'}\nmodel: {hidden_units: 3}\n"
        "train: {epochs: 1, schedule: {name: constant, eta0: 0.25}}\n"
    )
    assert main(["explain", str(config), "--example", "4"]) == 0
    data = page_data(tmp_path / "explain.html")
    assert data["sgd"]["eta"] == 0.25 and data["sgd"]["t"] == 1
    assert data["notes"]["example"].startswith("4 of ")
    assert main(["explain", str(config)]) == 2  # explain.html exists
    assert "--force" in capsys.readouterr().err
    assert main(["train", str(config), "--quiet", "--out", "run"]) == 0
    assert main(["explain", "run"]) == 0
    data = page_data(tmp_path / "run" / "explain.html")
    assert (
        data["sgd"]["t"] == json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] + 1
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["explain", "tiny.yaml", "--example", "1000"], "--example 1000 is not in 0..107"),
        (["explain", "tiny.yaml", "--example", "-1"], "--example -1 is not in 0..107"),
        (["explain", "nowhere"], "is neither a config file nor a run directory"),
        (["explain", "empty"], "not an nnclf run directory"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "tiny.yaml").write_text(
        "data: {source: 'sklearn:iris'}\nmodel: {hidden_units: 3}\n"
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "tiny.yaml"]
    assert not list((tmp_path / "empty").iterdir())


def test_the_digits_page_stays_under_2_mb(tmp_path):
    assert main(["explain", str(CONFIGS / "digits.yaml"), "--out", str(tmp_path / "d.html")]) == 0
    size = (tmp_path / "d.html").stat().st_size
    assert size < 2_000_000, size


# ----------------------------------------------------------------------------- in a browser


@pytest.mark.slow  # (a subprocess: the browser)
def test_the_page_steps_through_both_passes_as_nnclf_computes_them(open_page, tmp_path):
    net, values = network()
    g = net.graph
    path = g.explain(values, tmp_path / "net.html", params=net.param_names, eta=0.1, t=1)
    page, report = open_page(path)
    p = g.backward(values, wrt=[v.name for v in g.vertices if v.name != "y"])
    for v in g.vertices[g.l :]:  # the forward pass, vertex by vertex
        page.click("#next")
        assert page.get_attribute("#panel", "data-vertex") == str(v.index)
        np.testing.assert_allclose(
            shown(page, "#panel .array[data-role=u]"),
            to_digits(values[v.name]).reshape(np.shape(values[v.name])),
            rtol=RTOL,
        )
    screenshot(page, "explain-forward")
    for v in reversed([v for v in g.vertices if v.name != "y"]):  # the backward pass
        page.click("#next")
        assert page.get_attribute("#panel", "data-kind") == "p"
        assert page.get_attribute("#panel", "data-vertex") == str(v.index)
        np.testing.assert_allclose(
            shown(page, "#panel .array[data-role=p]"),
            to_digits(p[v.name]).reshape(np.shape(p[v.name])),
            rtol=RTOL,
            atol=1e-12,
        )
    screenshot(page, "explain-backward")
    assert report == {"requests": [], "errors": []}


def test_an_edge_shows_its_jacobian_and_a_vertex_its_path_sum(open_page, tmp_path):
    net, values = network()
    g = net.graph
    path = g.explain(values, tmp_path / "net.html", params=net.param_names, eta=0.1, t=1)
    page, report = open_page(path)
    page.dispatch_event('g.edge[data-j="4"][data-i="9"]', "click")  # V -> l
    np.testing.assert_allclose(
        shown(page, "#panel .array[data-role=jacobian]").ravel(),
        g.edge_jacobian(values, "V", "l").ravel(),
        rtol=RTOL,
        atol=1e-12,
    )
    page.dispatch_event('g.edge[data-j="7"][data-i="8"]', "click")  # z -> h: diagonal
    np.testing.assert_allclose(
        shown(page, "#panel .array[data-role=jacobian-diagonal]"),
        np.diag(g.edge_jacobian(values, "z", "h")),
        rtol=RTOL,
    )
    screenshot(page, "explain-edge")
    page.dispatch_event('g.vertex[data-i="1"]', "click")  # W: one path, its sum is p^W
    assert page.inner_text("#path-count") == "1"
    np.testing.assert_allclose(
        shown(page, "#panel .array[data-role=pathsum]"),
        to_digits(g.path_sum(values, "W")),
        rtol=RTOL,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        shown(page, "#panel .array[data-role=pathsum]"),
        shown(page, "#panel .array[data-role=p]"),
        rtol=1e-5,
        atol=1e-12,
    )
    pW = g.backward(values, wrt="W")["W"]
    row = 'tr[data-param="W"] .array[data-role=after]'
    np.testing.assert_allclose(shown(page, row), to_digits(values["W"] - 0.1 * pW), rtol=RTOL)
    assert float(page.inner_text("#loss-before")) == pytest.approx(float(values["o"]), rel=RTOL)
    assert report == {"requests": [], "errors": []}


def test_the_notes_example_shows_two_paths_and_their_sum(open_page, tmp_path):
    g, values = notes_graph()
    page, report = open_page(g.explain(values, tmp_path / "notes.html"))
    page.dispatch_event('g.vertex[data-i="2"]', "click")
    assert page.inner_text("#path-count") == "2"
    products = [
        float(t) for t in page.locator("#panel .array[data-role=product] td").all_inner_texts()
    ]
    assert products == [2.0, 3.0]
    assert shown(page, "#panel .array[data-role=pathsum]") == 5.0 == float(g.backward(values)["u2"])
    screenshot(page, "explain-notes")
    assert report == {"requests": [], "errors": []}


def test_the_digits_page_opens_without_errors(open_page, tmp_path):
    out = tmp_path / "digits.html"
    assert main(["explain", str(CONFIGS / "digits.yaml"), "--example", "5", "--out", str(out)]) == 0
    page, report = open_page(out)
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    page.dispatch_event('g.edge[data-j="1"][data-i="7"]', "click")
    assert "I ⊗ x^T" in page.inner_text("#panel [data-role=closed-form]")
    screenshot(page, "explain-digits")
    assert report == {"requests": [], "errors": []}


def test_edge_jacobian_and_path_products_of_the_graph():
    from nnclf.errors import GraphError

    g, values = notes_graph()
    assert g.edge_jacobian(values, "u2", "u4").tolist() == [[3.0]]  # d(u2 u3)/du2 = u3
    terms = g.path_products(values, "u2")
    assert [(path, float(prod[0, 0])) for path, prod in terms] == [
        ([(2, 3), (3, 4)], 2.0),
        ([(2, 4)], 3.0),
    ]
    with pytest.raises(GraphError, match=r"\(1, 4\) is not an edge"):
        g.edge_jacobian(values, "u1", "u4")
    net, values = network()
    np.testing.assert_array_equal(net.graph.edge_jacobian(values, "x", "z"), values["W"])
    with pytest.raises(GraphError, match="not a differentiable argument"):
        net.graph.edge_jacobian(values, "y", "o")


def test_a_run_whose_data_changed_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rows = (CONFIGS.parent / "data" / "iris.csv").read_text().splitlines()
    (tmp_path / "iris.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "c.yaml").write_text(
        "data: {source: iris.csv, target: species}\nmodel: {hidden_units: 3}\ntrain: {epochs: 1}\n"
    )
    assert main(["train", "c.yaml", "--quiet", "--out", "run"]) == 0
    (tmp_path / "iris.csv").write_text("\n".join(rows[:-1]) + "\n")
    assert main(["explain", "run"]) == 2
    err = capsys.readouterr().err
    assert "has changed since the run was trained (150 rows then, 149 now)" in err
    assert not (tmp_path / "run" / "explain.html").exists()
