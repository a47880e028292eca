"""A bounded load on ``nnclf serve`` over loopback: throughput, latency, errors and the
server's memory, against onnxruntime called in this process on the same rows (the floor: the
network alone, no HTTP, no parsing).

The server is the command a user runs (``python -m nnclf serve MODEL --port 0 --quiet``) on
127.0.0.1 only. Two phases, each with ``--clients`` threads, each thread with its own
keep-alive connection (httpx): ``--small`` requests of one row, then ``--large`` requests of
``--large-rows`` rows, as ``dataframe_split`` JSON. The rows are those of ``--data`` (by
default the model's own training file, data/penguins.csv for the default model), drawn with
a seeded numpy Generator. Latency is per request, at the client; throughput is requests and
rows per second of wall time; errors are answers other than 200 (there must be none). The
server's resident memory (VmRSS of /proc/PID/status, its workers included) is read after a
warm-up and after each phase.

    python scripts/serve_benchmark.py [MODEL] [--clients 8] [--small 5000] [--large 200]
        [--large-rows 10000] [--workers 1] [--data CSV] [--seed 0] [--json]

Without MODEL, a penguins model (configs/penguins.yaml) is trained into a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnclf.cli import main as nnclf_main  # noqa: E402
from nnclf.data.frame import MISSING_TEXT, Frame  # noqa: E402
from nnclf.runs.report import prediction_inputs  # noqa: E402
from nnclf.runs.run import open_model  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", nargs="?", help="a run directory or model file (default: train one)")
    p.add_argument("--data", help="a CSV whose rows are sent (default: the model's training data)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--small", type=int, default=5000, help="one-row requests (default 5000)")
    p.add_argument("--large", type=int, default=200, help="large requests (default 200)")
    p.add_argument("--large-rows", type=int, default=10_000, help="rows of each (default 10000)")
    p.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- the rows


def value(cell: str):
    """A CSV cell as the JSON value a client sends for it."""
    if cell.strip() in MISSING_TEXT:
        return None
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell


def json_rows(model, data: str) -> tuple[list[str], list[list]]:
    """The model's feature columns of ``data`` as JSON values, row by row."""
    with open(data, newline="") as f:
        header, *rows = list(csv.reader(f))
    names = list(model.feature_names)
    where = [header.index(n) for n in names]
    return names, [[value(row[j]) for j in where] for row in rows]


def body(names, rows, picks) -> bytes:
    return json.dumps(
        {"dataframe_split": {"columns": names, "data": [rows[i] for i in picks]}}
    ).encode()


def training_data(model_dir: Path) -> str:
    import yaml

    config = yaml.safe_load((model_dir / "config.yaml").read_text())
    return str(config["data"]["source"])


# ----------------------------------------------------------------------------- the server


class Server:
    def __init__(self, model, workers: int, max_rows: int, log: Path):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        command = [sys.executable, "-m", "nnclf", "serve", str(model), "--port", "0", "--quiet"]
        command += ["--workers", str(workers), "--max-rows", str(max_rows)]
        with open(log, "w") as err:
            self.proc = subprocess.Popen(command, stderr=err, env=env)
        self.log = log
        deadline = time.monotonic() + 120
        while not (m := re.search(r"on (http://127\.0\.0\.1:\d+) ", log.read_text())):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"nnclf serve did not start: {log.read_text()}")
            time.sleep(0.1)
        self.url = m.group(1)

    def rss_mib(self) -> float:
        """Resident memory of the server and its workers, MiB."""
        pids, total = [self.proc.pid], 0
        while pids:
            pid = pids.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
            pids += [int(c) for c in children]
        return total / 1024

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=60)


def load(url: str, bodies: list, clients: int):
    """Send every body to /invocations (a body None: GET /ping), ``clients`` at a time;
    (seconds, latencies in ms, errors)."""
    import httpx

    queue, lock = iter(range(len(bodies))), threading.Lock()
    latencies, errors = [0.0] * len(bodies), []
    json_type = {"Content-Type": "application/json"}

    def client():
        with httpx.Client(timeout=300) as c:
            while True:
                with lock:
                    i = next(queue, None)
                if i is None:
                    return
                start = time.perf_counter()
                try:
                    if bodies[i] is None:
                        r = c.get(url + "/ping")
                    else:
                        r = c.post(url + "/invocations", content=bodies[i], headers=json_type)
                    ok = r.status_code == 200
                except httpx.HTTPError as e:
                    ok, r = False, e
                latencies[i] = (time.perf_counter() - start) * 1000
                if not ok:
                    errors.append(getattr(r, "text", str(r))[:200])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, np.array(latencies), errors


def phase(server, bodies: list, clients: int, rss: dict, name: str):
    """``load`` in two halves, the server's memory read after each (growth from the first
    half to the second, with the same load, would be a leak rather than a high-water mark);
    (seconds, latencies in ms, number of errors)."""
    half = len(bodies) // 2
    seconds, latencies, errors = 0.0, [], []
    for part, which in ((bodies[:half], ", first half"), (bodies[half:], "")):
        if part:
            took, times, wrong = load(server.url, part, clients)
            seconds, errors = seconds + took, errors + wrong
            latencies.append(times)
        rss[f"after {name}{which}"] = server.rss_mib()
    if errors:
        print(f"{name}: {len(errors)} errors, the first: {errors[0]}", file=sys.stderr)
    return seconds, np.concatenate(latencies), len(errors)


# ----------------------------------------------------------------------------- the floor


def onnx_floor(model, X, picks_per_call: list[np.ndarray]):
    """onnxruntime in this process on the same rows: (seconds, latencies in ms); None
    without onnx or onnxruntime."""
    try:
        import onnxruntime as ort

        from nnclf.export.onnx import per_column, to_onnx
    except ImportError:
        return None
    proto = to_onnx(model)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = json.loads({p.key: p.value for p in proto.metadata_props}.get("inputs", "{}"))
    feeds = [_feeds(X, picks, names, per_column(model)) for picks in picks_per_call]
    latencies = []
    start = time.perf_counter()
    for feed in feeds:
        t = time.perf_counter()
        session.run(None, feed)
        latencies.append((time.perf_counter() - t) * 1000)
    return time.perf_counter() - start, np.array(latencies)


def _feeds(X, picks, names: dict, by_column: bool) -> dict:
    if not by_column:
        return {"X": np.asarray(X)[picks].astype(np.float32)}
    frame = X if isinstance(X, Frame) else Frame.of_matrix(np.asarray(X), list(names))
    out = {}
    for column, values in frame.columns.items():
        v = values[picks]
        if frame.is_text(column):
            out[names[column]] = np.array(
                ["" if c is None else c for c in v], dtype=object
            ).reshape(-1, 1)
        else:
            out[names[column]] = v.astype(np.float32).reshape(-1, 1)
    return out


# ----------------------------------------------------------------------------- the report


def row(name, requests, rows, seconds, latencies, errors=None) -> dict:
    return {
        "phase": name,
        "requests": requests,
        "rows_per_request": rows,
        "requests_per_s": requests / seconds,
        "rows_per_s": requests * rows / seconds,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "errors": errors,
    }


def print_table(results: dict) -> None:
    print(f"# {results['machine']}, {results['date']}")
    print(
        f"# model {results['model']}, {results['clients']} clients, {results['workers']} worker(s)"
    )
    head = f"{'':46} {'requests/s':>11} {'rows/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
    print(head)
    for r in results["rows"]:
        errors = "" if r["errors"] is None else str(r["errors"])
        name = f"{r['phase']} ({r['requests']} x {r['rows_per_request']} rows)"
        print(
            f"{name:46} {r['requests_per_s']:11.1f} {r['rows_per_s']:11.0f} "
            f"{r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {errors:>6}"
        )
    for k, v in results["ratios"].items():
        print(f"onnxruntime / nnclf serve, {k}: {v:.1f}x the throughput")
    print("server RSS MiB: " + ", ".join(f"{k} {v:.1f}" for k, v in results["rss_mib"].items()))
    print("load average (1 min) before and after: {:.2f}, {:.2f}".format(*results["load"]))


def run(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="serve-benchmark-") as tmp:
        model_path = args.model
        if model_path is None:
            model_path = str(Path(tmp) / "penguins")
            config = str(ROOT / "configs" / "penguins.yaml")
            with contextlib.redirect_stdout(sys.stderr):  # stdout is the results' alone
                assert nnclf_main(["train", config, "--out", model_path, "--quiet"]) == 0
        model, _, run_dir = open_model(model_path)
        data = args.data or training_data(run_dir)
        names, rows = json_rows(model, data)
        X = prediction_inputs(model, data).X
        rng = np.random.default_rng(args.seed)
        small = [rng.integers(0, len(rows), size=1) for _ in range(args.small)]
        large = [rng.integers(0, len(rows), size=args.large_rows) for _ in range(args.large)]
        return measure(args, model_path, model, names, rows, X, small, large, Path(tmp))


def measure(args, model_path, model, names, rows, X, small, large, tmp: Path) -> dict:
    load_before = os.getloadavg()[0]
    server = Server(model_path, args.workers, max(args.large_rows, 1), tmp / "server.log")
    try:
        load(server.url, [body(names, rows, p) for p in small[:200]], args.clients)  # warm-up
        rss = {"after warm-up": server.rss_mib()}
        results = []
        pings = [None] * min(len(small), 2000)
        seconds, latencies, errors = phase(server, pings, args.clients, rss, "GET /ping")
        results.append(row("nnclf serve, GET /ping", len(pings), 0, seconds, latencies, errors))
        for name, picks in (("1 row", small), (f"{args.large_rows} rows", large)):
            if picks:
                bodies = [body(names, rows, p) for p in picks]
                seconds, latencies, errors = phase(server, bodies, args.clients, rss, name)
                n = len(picks[0])
                results.append(
                    row(f"nnclf serve, {name}", len(picks), n, seconds, latencies, errors)
                )
    finally:
        code = server.stop()
    ratios = {}
    for served, picks in zip(results[1:], [p for p in (small, large) if p]):
        floor = onnx_floor(model, X, picks)
        if floor is None:
            continue
        results.append(
            row(f"onnxruntime, {served['phase'].split(', ')[1]}", len(picks), len(picks[0]), *floor)
        )
        ratios[served["phase"].split(", ")[1]] = results[-1]["rows_per_s"] / served["rows_per_s"]
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()}",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "model": str(model_path),
        "clients": args.clients,
        "workers": args.workers,
        "rows": results,
        "ratios": ratios,
        "rss_mib": rss,
        "server_exit_code": code,
        "load": [load_before, os.getloadavg()[0]],
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run(args)
    if args.json:
        print(json.dumps(results))
    else:
        print_table(results)
    errors = sum(r["errors"] or 0 for r in results["rows"])
    return 1 if errors or results["server_exit_code"] != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
