"""``nnclf serve``: the real server, started as a subprocess on a free loopback port, and
talked to over HTTP with httpx.

Every payload form must give exactly the labels and p(k|x) that ``nnclf predict`` gives for
the same rows (its CSV, and its rows replayed in-process through the same model); each kind
of bad request its status, error code and message, with the server answering /ping after
them; SIGTERM must let requests in flight finish and exit 0; two workers answer the same;
a model that fails to load, or a port in use, is one line and exit 2.
"""

import csv
import io
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from nnclf.base.version import __version__
from nnclf.cli import main
from nnclf.data.frame import MISSING_TEXT
from nnclf.runs import card as model_card
from nnclf.runs.report import prediction_inputs
from nnclf.runs.run import open_model
from nnclf.serving.payload import Refusal, read_request

ROOT = Path(__file__).resolve().parent.parent
PENGUINS = ROOT / "data" / "penguins.csv"
FEATURES = [
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
    "year",
]
JSON_TYPE = {"Content-Type": "application/json"}


def train(config, out, *settings):
    args = ["train", str(ROOT / "configs" / config), "--out", str(out), "--quiet"]
    for s in ("train.epochs=2", "model.hidden_units=8", *settings):
        args += ["--set", s]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def penguins_run(tmp_path_factory):
    """A tiny penguins model (categorical columns, missing values imputed)."""
    return train("penguins.yaml", tmp_path_factory.mktemp("serve") / "penguins")


@pytest.fixture(scope="module")
def rows_file(tmp_path_factory):
    """The first 30 penguins (species included, missing values among them) as a CSV."""
    lines = PENGUINS.read_text().splitlines()[:31]
    assert any("NA" in line for line in lines[1:])
    path = tmp_path_factory.mktemp("rows") / "rows.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


class Server:
    """``python -m nnclf serve`` in a subprocess; its stderr goes to a file (the access log)."""

    def __init__(self, model, *args, log):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.log = log
        command = [sys.executable, "-m", "nnclf", "serve", str(model), "--port", "0", *args]
        with open(log, "w") as err:
            self.proc = subprocess.Popen(command, stderr=err, stdout=subprocess.DEVNULL, env=env)
        self.url = self._wait_for_url()
        deadline = time.monotonic() + 60
        while httpx.get(self.url + "/ping").status_code != 200:  # workers may still start
            assert time.monotonic() < deadline
            time.sleep(0.1)

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            m = re.search(r"on (http://127\.0\.0\.1:\d+) ", Path(self.log).read_text())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                pytest.fail(f"nnclf serve exited {self.proc.returncode}: {self.stderr()}")
            time.sleep(0.1)
        self.proc.kill()
        pytest.fail("nnclf serve did not start within 120 s")

    def stderr(self) -> str:
        return Path(self.log).read_text()

    def post(self, body, headers=JSON_TYPE, client=httpx):
        content = json.dumps(body) if isinstance(body, (dict, list)) else body
        return client.post(self.url + "/invocations", content=content, headers=headers)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def server(penguins_run, tmp_path_factory):
    s = Server(
        penguins_run,
        "--max-rows",
        "100",
        "--max-body",
        "20kB",
        log=tmp_path_factory.mktemp("log") / "stderr.txt",
    )
    yield s
    s.proc.send_signal(signal.SIGINT)  # Ctrl-C: as SIGTERM (tested below), exit 0
    assert s.proc.wait(timeout=60) == 0


def value(cell: str):
    """A CSV cell as the JSON value a client would send for it."""
    if cell.strip() in MISSING_TEXT:
        return None
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell


def read_rows(path):
    with open(path, newline="") as f:
        header, *rows = list(csv.reader(f))
    return header, [[value(c) for c in row] for row in rows]


def payloads(path):
    """Every payload form of the rows of ``path``: (content type, body)."""
    header, rows = read_rows(path)
    records = [dict(zip(header, row)) for row in rows]
    ordered = [[r[name] for name in FEATURES] for r in records]
    columns = {name: [r[name] for r in records] for name in header}
    return {
        "csv": ("text/csv", Path(path).read_bytes()),
        "dataframe_split": (
            "application/json",
            {"dataframe_split": {"columns": header, "data": rows}},
        ),
        "dataframe_records": ("application/json", {"dataframe_records": records}),
        "instances records": ("application/json", {"instances": records}),
        "inputs columns": ("application/json", {"inputs": columns}),
        "inputs in order": ("application/json; charset=utf-8", {"inputs": ordered}),
        "split without columns": ("application/json", {"dataframe_split": {"data": ordered}}),
    }


def predict_cli(model, data, tmp_path):
    """``nnclf predict``'s CSV: labels and probabilities (as it writes them, 6 digits)."""
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(model), "--data", str(data), "--out", str(out)]) == 0
    with open(out, newline="") as f:
        header, *rows = list(csv.reader(f))
    return [r[0] for r in rows], np.array([[float(v) for v in r[1:]] for r in rows]), header


def test_every_payload_form_answers_as_nnclf_predict(server, penguins_run, rows_file, tmp_path):
    labels, proba_6g, header = predict_cli(penguins_run, rows_file, tmp_path)
    model, _, _ = open_model(penguins_run)  # predict's rows, in full precision
    exact = model.predict_proba(prediction_inputs(model, str(rows_file)).X)
    classes = [h[2:] for h in header[1:]]
    for form, (kind, body) in payloads(rows_file).items():
        answer = server.post(body, {"Content-Type": kind})
        assert answer.status_code == 200, (form, answer.text)
        predictions = answer.json()["predictions"]
        assert [p["label"] for p in predictions] == labels, form
        got = np.array([[p["probabilities"][c] for c in classes] for p in predictions])
        np.testing.assert_allclose(got, exact, rtol=0, atol=1e-12, err_msg=form)
        np.testing.assert_allclose(got, proba_6g, rtol=5e-6, atol=1e-9, err_msg=form)


def test_json_null_nan_and_infinity_are_missing_values_when_the_model_imputes(server):
    row = {
        "island": "Dream",
        "bill_length_mm": 40.0,
        "bill_depth_mm": 18.0,
        "flipper_length_mm": 190,
        "body_mass_g": 3500,
        "sex": "female",
        "year": 2008,
    }
    answers = []
    for missing in ("null", "NaN", "Infinity", "-Infinity", '"NA"'):
        text = json.dumps({"dataframe_records": [row]}).replace("40.0", missing)
        answer = server.post(text)
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
    assert all(a == answers[0] for a in answers)
    assert answers[0] != server.post({"dataframe_records": [row]}).json()


def test_metadata_version_and_health(server, penguins_run):
    assert httpx.get(server.url + "/metadata").json() == json.loads(
        json.dumps(model_card.model_card(str(penguins_run)))
    )
    assert httpx.get(server.url + "/version").text == __version__
    for path in ("/ping", "/health"):
        assert httpx.get(server.url + path).status_code == 200


def bad_requests():
    row = dict(zip(FEATURES, ["Dream", 40.0, 18.0, 190, 3500, "female", 2008]))
    no_bill = {k: v for k, v in row.items() if k != "bill_length_mm"}
    many = {"dataframe_records": [row] * 101}
    huge = {"dataframe_records": [row] * 99 + [dict(row, island="x" * 30_000)]}
    csv_many = "\n".join([",".join(FEATURES)] + [",".join(map(str, row.values()))] * 101)
    json_type, csv_type = "application/json", "text/csv"
    return [
        (json_type, "{not json", 400, "MALFORMED_REQUEST", "the body is not valid JSON"),
        (json_type, b"\xff\xfe", 400, "MALFORMED_REQUEST", "not UTF-8 text: byte 0 is 0xff"),
        (json_type, "[1, 2]", 400, "BAD_REQUEST", "must be an object with one of dataframe_split"),
        (
            json_type,
            {"dataframe_splt": {}},
            400,
            "BAD_REQUEST",
            "(did you mean 'dataframe_split'?)",
        ),
        (
            json_type,
            {"inputs": [], "instances": []},
            400,
            "BAD_REQUEST",
            "two payload keys (inputs, instances)",
        ),
        (
            json_type,
            {},
            400,
            "BAD_REQUEST",
            "exactly one of dataframe_split, dataframe_records, instances, inputs: no payload key",
        ),
        (
            json_type,
            {"dataframe_records": [no_bill]},
            400,
            "BAD_REQUEST",
            "the request's dataframe_records has 6 of the model's 7 features but no column named bill_length_mm",
        ),
        (
            json_type,
            {"dataframe_records": [row, dict(row, body_mass_g="heavy")]},
            400,
            "BAD_REQUEST",
            "column 'body_mass_g' has non-numeric value 'heavy' in row 2",
        ),
        (
            json_type,
            {"dataframe_records": [dict(row, year=[2008])]},
            400,
            "BAD_REQUEST",
            "dataframe_records: row 1 holds an array; give numbers, text or null",
        ),
        (
            json_type,
            {"inputs": [1, 2]},
            400,
            "BAD_REQUEST",
            "inputs: row 1 is a number, not an array",
        ),
        (
            json_type,
            {"inputs": [[1, 2, 3]]},
            400,
            "BAD_REQUEST",
            "inputs: row 1 has 3 values but the model expects 7 features in order",
        ),
        (
            json_type,
            {"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}},
            400,
            "BAD_REQUEST",
            "dataframe_split: row 1 has 2 values but 'columns' names 1",
        ),
        (
            csv_type,
            "",
            400,
            "BAD_REQUEST",
            "the request is empty; it needs a header row and data rows",
        ),
        ("text/plain", "x", 415, "BAD_REQUEST", "unsupported content type 'text/plain'"),
        ("application/json; charset=latin-1", "{}", 415, "BAD_REQUEST", "unsupported content type"),
        (
            json_type,
            many,
            413,
            "RESOURCE_LIMIT_EXCEEDED",
            "the request has 101 rows, more than --max-rows 100",
        ),
        (
            csv_type,
            csv_many,
            413,
            "RESOURCE_LIMIT_EXCEEDED",
            "the request has 101 rows, more than --max-rows 100",
        ),
        (json_type, huge, 413, "RESOURCE_LIMIT_EXCEEDED", "more than --max-body 20000"),
    ]


def test_each_bad_request_gets_its_status_and_message_and_the_server_stays_up(server):
    for kind, body, status, code, message in bad_requests():
        answer = server.post(body, {"Content-Type": kind})
        assert (answer.status_code, answer.json()["error_code"]) == (status, code), answer.text
        assert message in answer.json()["message"]
        assert "\n" not in answer.json()["message"]
        assert httpx.get(server.url + "/ping").status_code == 200
    assert httpx.get(server.url + "/invocations").status_code == 405
    assert httpx.get(server.url + "/nowhere").json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert " 500 " not in server.stderr() and "Traceback" not in server.stderr()


def test_the_access_log_has_one_line_per_request(server):
    server.post({"dataframe_split": {"data": [["Dream", 40, 18, 190, 3500, "male", 2008]] * 3}})
    line = server.stderr().strip().splitlines()[-1]
    assert re.fullmatch(r"nnclf: POST /invocations 200 3 rows \d+\.\d ms", line), line


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory):
    """A tiny iris model that does not impute missing values."""
    out = tmp_path_factory.mktemp("iris") / "iris"
    model, _, _ = open_model(train("iris.yaml", out, "data.missing=error", "train.epochs=1"))
    return model


def test_columns_named_by_numbers_are_taken_in_order(iris_model):
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    names = list(iris_model.feature_names)
    forms = [
        {"dataframe_split": {"columns": names, "data": rows}},
        {"dataframe_split": {"columns": [0, 1, 2, 3], "data": rows}},
        {"dataframe_records": [{str(j): v for j, v in enumerate(row)} for row in rows]},
        {"inputs": rows},
    ]
    read = [read_request(iris_model, json.dumps(f).encode(), "application/json", 10) for f in forms]
    for X in read:
        np.testing.assert_array_equal(X, np.array(rows))
    with pytest.raises(Refusal, match="row 1 has 3 values but the model expects 4 features"):
        body = {"dataframe_split": {"columns": [0, 1, 2], "data": [r[:3] for r in rows]}}
        read_request(iris_model, json.dumps(body).encode(), "application/json", 10)


def test_non_finite_numbers_are_refused_when_the_model_does_not_impute(iris_model):
    model = iris_model
    names = list(model.feature_names)
    good = json.dumps({"dataframe_split": {"columns": names, "data": [[5.1, 3.5, 1.4, 0.2]]}})
    assert read_request(model, good.encode(), "application/json", 10).shape == (1, 4)
    for token, problem in [
        ("Infinity", "non-finite value 'inf'"),
        ("NaN", "a missing value 'NaN'"),
        ("null", "a missing value 'null'"),
    ]:
        with pytest.raises(Refusal) as e:
            read_request(model, good.replace("3.5", token).encode(), "application/json", 10)
        assert e.value.status == 400
        assert f"the request's dataframe_split column '{names[1]}' has {problem} in row 1" in str(
            e.value
        )


def free_port_held():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def serve_once(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "nnclf", "serve", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.slow  # (a subprocess: nnclf serve)
def test_a_model_that_fails_to_load_is_one_line_and_exit_2_before_the_port_is_bound(tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a model")
    with free_port_held() as held:  # were the port bound first, the error would be about it
        done = serve_once(bad, "--port", held.getsockname()[1])
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("nnclf: error: ")
    assert str(bad) in done.stderr and "in use" not in done.stderr


@pytest.mark.slow  # (a subprocess: nnclf serve)
def test_a_port_in_use_is_one_line_and_exit_2(penguins_run):
    with free_port_held() as held:
        port = held.getsockname()[1]
        done = serve_once(penguins_run, "--port", port)
    assert done.returncode == 2
    assert done.stderr == (
        f"nnclf: error: --port {port}: 127.0.0.1:{port} is in use; stop what listens there "
        "or choose another --port\n"
    )


@pytest.mark.slow
def test_sigterm_lets_the_requests_in_flight_finish_and_exits_0(penguins_run, rows_file, tmp_path):
    s = Server(penguins_run, "--quiet", log=tmp_path / "stderr.txt")
    expected = s.post(Path(rows_file).read_bytes(), {"Content-Type": "text/csv"}).json()
    body = Path(rows_file).read_bytes()
    started = threading.Barrier(5)
    answers = []

    def slow_body():  # the request is in flight (its headers sent) when SIGTERM comes
        yield body[:50]
        started.wait(timeout=30)
        time.sleep(0.5)
        yield body[50:]

    def client():
        answers.append(s.post(slow_body(), {"Content-Type": "text/csv"}))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait(timeout=30)
    code = s.stop()
    for t in threads:
        t.join()
    assert code == 0
    assert [a.status_code for a in answers] == [200] * 4
    assert all(a.json() == expected for a in answers)


@pytest.mark.slow
def test_two_workers_answer_as_one(server, penguins_run, rows_file, tmp_path):
    s = Server(penguins_run, "--workers", "2", "--quiet", log=tmp_path / "stderr.txt")
    try:
        for form, (kind, body) in payloads(rows_file).items():
            with httpx.Client() as a, httpx.Client() as b:  # two connections: both workers
                one = server.post(body, {"Content-Type": kind})
                assert s.post(body, {"Content-Type": kind}, client=a).json() == one.json(), form
                assert s.post(body, {"Content-Type": kind}, client=b).json() == one.json(), form
    finally:
        assert s.stop() == 0


def test_csv_text_of_json_values_reads_back_as_the_same_numbers():
    from nnclf.serving.payload import csv_text

    values = [0.1, 1 / 3, 1e-300, 2.5e300, -0.0, 123456789012345678, math.pi]
    text = csv_text(["x"], [[v] for v in values], False, "inputs")
    assert [float(c) for c in text.split()[1:]] == [float(v) for v in values]
    assert csv_text(None, [[None, float("nan"), float("inf"), True, "a,b"]], True, "inputs") == (
        'null,NaN,NaN,True,"a,b"\n'
    )
    assert io.StringIO(csv_text(None, [[float("-inf")]], False, "inputs")).read() == "-inf\n"


@pytest.mark.slow
def test_the_benchmark_script_runs_tiny_and_reports_no_errors(penguins_run):
    script = ROOT / "scripts" / "serve_benchmark.py"
    args = [penguins_run, "--small", "20", "--large", "2", "--large-rows", "50", "--clients", "2"]
    done = subprocess.run(
        [sys.executable, str(script), *map(str, args), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    served = [r for r in results["rows"] if r["phase"].startswith("nnclf serve")]
    assert [(r["requests"], r["rows_per_request"], r["errors"]) for r in served] == [
        (20, 0, 0),
        (20, 1, 0),
        (2, 50, 0),
    ]
    assert len(results["rss_mib"]) == 7 and set(results["ratios"]) == {"1 row", "50 rows"}
    assert results["server_exit_code"] == 0


def test_a_json_body_of_no_rows_has_no_predictions(server):
    for body in ({"inputs": []}, {"dataframe_split": {"columns": FEATURES, "data": []}}):
        assert server.post(body).json() == {"predictions": []}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "70000"], "argument --port: expected a port number from 0 to 65535"),
        (["--max-body", "12XB"], "argument --max-body: expected a positive number of bytes"),
        (["--workers", "0"], "argument --workers: expected a positive integer, got '0'"),
        (["--host", "no.such.host.invalid"], "--host no.such.host.invalid: not an address of"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(penguins_run, args, message, capsys):
    assert main(["serve", str(penguins_run), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnclf: error: ") and message in err and err.count("\n") == 1


def test_sizes_are_read_with_their_units():
    from nnclf.cli import build_parser

    parse = lambda size: build_parser().parse_args(["serve", "m", "--max-body", size]).max_body
    assert [parse(s) for s in ("1000", "500kB", "64MiB", "2 GiB")] == [
        1000,
        500_000,
        64 << 20,
        2 << 30,
    ]
    assert build_parser().parse_args(["serve", "m"]).max_body == 64 << 20


WITHOUT_FASTAPI = """
import importlib.abc, sys

class NoFastAPI(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("fastapi", "uvicorn"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoFastAPI())
from nnclf.cli import main
sys.exit(main(["serve", sys.argv[1]]))
"""


@pytest.mark.slow  # (a subprocess: nnclf serve)
def test_without_the_serve_extra_the_command_says_how_to_install_it(penguins_run):
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_FASTAPI, str(penguins_run)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (
        2,
        "nnclf: error: nnclf serve needs fastapi and uvicorn; install them with: "
        'pip install "nnclf[serve]"\n',
    )


def test_the_socket_names_tcp_so_that_its_connections_get_tcp_nodelay():
    # asyncio sets TCP_NODELAY on the connections of a socket whose proto is IPPROTO_TCP
    # only; without it each keep-alive answer waited for a delayed ACK (about 40 ms).
    from nnclf.serving.server import bind

    with bind("127.0.0.1", 0) as sock:
        assert (sock.type, sock.proto) == (socket.SOCK_STREAM, socket.IPPROTO_TCP)
        client = socket.create_connection(sock.getsockname())
        connection, _ = sock.accept()
        with client, connection:
            assert connection.proto == socket.IPPROTO_TCP


def test_a_client_gone_before_its_body_came_is_no_error(server):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 1000\r\n\r\nisland,sex\n"
        )
    deadline = time.monotonic() + 30
    while "/invocations 400 0 rows" not in server.stderr().splitlines()[-1]:
        assert time.monotonic() < deadline, server.stderr()[-500:]
        time.sleep(0.05)
    assert httpx.get(server.url + "/ping").status_code == 200
    assert "Traceback" not in server.stderr()
