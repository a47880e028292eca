"""The ``nnclf`` command: train, evaluate, predict, export, info, gradcheck, graph, plot,
explain, report, sweep, serve.

Exit codes: 0 success; 1 training diverged, a gradient check disagreed, or a bug in nnclf
(its traceback, then one line saying so); 2 bad input (one line on stderr,
``nnclf: error: ...``, and nothing written); 130 interrupted (Ctrl-C; a training run is saved
and can be resumed); 143 terminated (SIGTERM, as sent by ``timeout``, ``docker stop`` or
Slurm, is handled exactly like Ctrl-C; ``timeout`` itself exits 124 unless given
``--preserve-status``, with which it passes on nnclf's 143).

Errors end here, at the edge. What nnclf refuses on purpose is an
:class:`~nnclf.errors.NnclfError` (a bad command line is a :class:`~nnclf.errors.UsageError`):
one line and its ``exit_code``. The machine refusing (permission denied, disk full: an
``OSError``) is one line naming the file and exit 2. Anything else is a bug in nnclf: the
traceback, one line saying so, and exit 1.

The argument parsing lives here; what each command does is in :mod:`nnclf.runs.run` (training and
run directories) and :mod:`nnclf.runs.report` (what the other commands print), imported only once
the command line has been read, so that ``--help`` and config errors are quick.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from nnclf.base.suggest import closest
from nnclf.base.version import __version__
from nnclf.errors import DivergenceError, NnclfError, UsageError

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_TERMINATED = 128 + signal.SIGTERM


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        raise UsageError(f"{command}{_with_suggestion(self, message)} (see {self.prog} --help)")


def _with_suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's message, with "did you mean" for a mistyped command or option."""
    m = re.match(r"argument COMMAND: invalid choice: '([^']*)'", message)
    if m:
        close = closest(m.group(1), COMMANDS)
        hint = f"did you mean {close}? " if close else ""
        return f"unknown command '{m.group(1)}'; {hint}the commands are {', '.join(COMMANDS)}"
    m = re.match(r"unrecognized arguments: (\S+)", message)
    if m and m.group(1).startswith("-"):
        options = [o for a in getattr(parser, "_chosen", parser)._actions for o in a.option_strings]
        close = closest(m.group(1).split("=", 1)[0], options)
        return message + (f"; did you mean {close}?" if close else "")
    return message


def _say(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- commands


def _load_config(path, overrides):
    from nnclf.config.load import load_config

    return load_config(path, overrides or (), notify=_note)


def _note(text: str) -> None:
    _say(f"nnclf: {text}")


def cmd_train(args) -> int:
    if args.resume is not None:
        given = [
            flag
            for flag, value in (
                ("CONFIG", args.config),
                ("--set", args.set),
                ("--out", args.out),
                ("--force", args.force),
            )
            if value
        ]
        if given:
            raise UsageError(
                f"train --resume continues a run with its own saved config; drop {', '.join(given)}"
            )
        from nnclf.runs import run

        outcome = run.resume(
            args.resume, quiet=args.quiet, stop_after=args.stop_after_steps, notify=_note
        )
        return _report_training(outcome, resumed=True)
    if args.config is None:
        raise UsageError(
            "train needs a CONFIG file (e.g. nnclf train configs/digits.yaml), "
            "or --resume RUN_DIR to continue a run"
        )
    cfg = _load_config(args.config, args.set)
    if args.out is not None:
        from nnclf.config.load import OutputConfig

        cfg = replace(cfg, output=OutputConfig(args.out))
    from nnclf.runs import run

    outcome = run.train(
        cfg,
        explicit=args.out is not None,
        force=args.force,
        quiet=args.quiet,
        stop_after=args.stop_after_steps,
        notify=_note,
    )
    return _report_training(outcome, resumed=False)


def _report_training(outcome, resumed: bool) -> int:
    if outcome.note:
        _note(outcome.note)
    if outcome.status == "interrupted":
        how = "terminated" if _SIGNALS.received == signal.SIGTERM else "interrupted"
        _say(
            f"nnclf: {how} at step {outcome.steps} of {outcome.total_steps}; "
            f"resume with: {outcome.resume_command}"
        )
        return _SIGNALS.exit_code()
    from nnclf.runs import report

    print(report.format_training(outcome, resumed))
    if outcome.warning:
        _say(f"nnclf: warning: {outcome.warning}")
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from nnclf.runs import metrics, report, run

    model, path, run_dir = run.open_model(args.model)
    X, y, what = report.evaluation_data(
        model,
        run_dir,
        args.data,
        args.target,
        notify=_note,
        delimiter=args.delimiter,
        encoding=args.encoding,
    )
    scores = metrics.evaluate(model, X, y)
    if args.json:
        print(json.dumps(scores))
    else:
        print(report.format_report(scores, [("model", str(path)), ("data", what)]))
    return EXIT_OK


def cmd_predict(args) -> int:
    from nnclf.base.outputs import atomic_write, check_output

    reads = (args.model, args.data)
    out = check_output(args.out, force=args.force, example="predictions.csv", reads=reads)
    from nnclf.runs import report, run

    model, _, _ = run.open_model(args.model)
    pieces = report.predict_csv(  # a folder: chunk by chunk
        model,
        args.data,
        notify=_note,
        keep=args.keep or (),
        delimiter=args.delimiter,
        encoding=args.encoding,
    )
    if out is None:
        for text, _ in pieces:
            sys.stdout.write(text)
        return EXIT_OK
    rows = [0]

    def write(f):  # chunk by chunk into the temporary file, renamed into place once complete
        for text, n in pieces:
            f.write(text.encode("utf-8"))
            rows[0] += n

    atomic_write(out, write)
    _say(f"nnclf: wrote {rows[0]} predictions to {out}")
    return EXIT_OK


def cmd_export(args) -> int:
    from nnclf.base.outputs import check_output

    out = check_output(
        args.out,
        force=args.force,
        example="model.onnx",
        stdout="an ONNX model is binary",
        reads=(args.model,),
    )
    from nnclf.export.onnx import describe_inputs, save_onnx
    from nnclf.runs import run

    model, _, _ = run.open_model(args.model)
    save_onnx(model, out)
    _say(
        f"nnclf: wrote {out} (ONNX: {describe_inputs(model)}; outputs label, "
        f"probabilities (N, {len(model.classes)}))"
    )
    return EXIT_OK


def cmd_info(args) -> int:
    from nnclf.runs import card as model_card

    card = model_card.model_card(args.model)
    print(json.dumps(card) if args.json else model_card.format_card(card))
    return EXIT_OK


def cmd_gradcheck(args) -> int:
    cfg = _load_config(args.config, args.set)
    from nnclf.runs import report

    text, ok = report.gradcheck(cfg, args.examples)
    print(text)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_graph(args) -> int:
    cfg = _load_config(args.config, args.set)
    from nnclf.runs import report

    sys.stdout.write(report.graph_dot(cfg))
    return EXIT_OK


def cmd_plot(args) -> int:
    from nnclf.runs import report
    from nnclf.sweeps import sweep

    plotter = sweep if (Path(args.run_dir) / sweep.SWEEP_CSV).is_file() else report
    for path in plotter.plot(args.run_dir):
        print(f"wrote {path}")
    return EXIT_OK


def cmd_explain(args) -> int:
    from nnclf.runs.explain import explain

    path = explain(args.target, example=args.example, out=args.out, force=args.force)
    _say(f"nnclf: wrote {path} (open it in a browser; it needs no network)")
    return EXIT_OK


def cmd_report(args) -> int:
    from nnclf.sweeps.page import is_sweep_dir, sweep_page

    if is_sweep_dir(args.run_dir):
        path = sweep_page(args.run_dir, out=args.out, force=args.force)
    else:
        from nnclf.runs.page import run_page

        path = run_page(args.run_dir, out=args.out, force=args.force)
    _say(f"nnclf: wrote {path} (open it in a browser; it needs no network)")
    return EXIT_OK


def cmd_sweep(args) -> int:
    from nnclf.sweeps import sweep

    sweep_dir, plan, rows = sweep.open_sweep(
        args.sweep, args.out, args.resume, args.scheduler, retry_failed=args.retry_failed
    )
    jobs = args.jobs
    if args.scheduler is None and jobs > sweep.max_jobs():
        jobs = sweep.max_jobs()
        _note(
            f"--jobs {args.jobs} is more than {sweep.JOBS_PER_CORE} per core; "
            f"running {jobs} local processes"
        )
    where = f"the Dask cluster at {args.scheduler}" if args.scheduler else f"{jobs} local processes"
    ended = sweep.ended(sweep_dir, plan, rows)
    _note(
        f"sweep {sweep_dir}: {sweep.planned(plan)} trials, {ended} ended before; running on {where}"
    )
    runner = sweep.run_sweep
    if plan.search is not None:
        from nnclf.sweeps import search

        runner = search.run_search
    outcome = runner(
        sweep_dir,
        plan,
        rows,
        jobs=jobs,
        scheduler=args.scheduler,
        notify=None if args.quiet else _note,
        stop_after=args.stop_after_trials,
    )
    if outcome.status == "interrupted":
        how = "terminated" if _SIGNALS.received == signal.SIGTERM else "interrupted"
        ended = sweep.ended(sweep_dir, plan, outcome.rows)
        _say(
            f"nnclf: {how} after {ended} of {sweep.planned(plan)} trials; resume with: "
            f"{outcome.resume_command}"
        )
        return _SIGNALS.exit_code()
    print(sweep.summary(sweep_dir, plan, outcome.rows))
    return EXIT_OK


def cmd_serve(args) -> int:
    try:
        from nnclf.serving import server
    except ModuleNotFoundError as e:
        if e.name not in ("fastapi", "starlette", "uvicorn"):
            raise
        raise UsageError(
            'nnclf serve needs fastapi and uvicorn; install them with: pip install "nnclf[serve]"'
        ) from None
    return server.serve(
        args.model,
        args.host,
        args.port,
        args.workers,
        args.max_body,
        args.max_rows,
        args.quiet,
        notify=_note,
    )


# ----------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port number from 0 to 65535 (0: any free port), got {text!r}"
        )
    return int(text)


_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2}
_UNITS["gib"] = 1024**3


def _size(text: str) -> int:
    """A number of bytes: ``1000000``, ``64MiB``, ``500kB``."""
    m = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS or int(m.group(1)) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of bytes, e.g. 1000000, 500kB or 64MiB, got {text!r}"
        )
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def _delimiter(text: str) -> str:
    """One character between fields; ``\\t`` or ``tab`` stand for a tab."""
    text = "\t" if text in ("\\t", "tab") else text
    if len(text) != 1 or text in '"\r\n':
        raise argparse.ArgumentTypeError(
            f"expected one character (not a quote), e.g. ';' or '\\t' for a tab, got {text!r}"
        )
    return text


def _encoding(text: str) -> str:
    from nnclf.data.tables import encoding_problem

    problem = encoding_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem.lstrip(": "))
    return text


def _arg(*names, **options) -> tuple[tuple[str, ...], dict]:
    """One ``add_argument(*names, **options)`` call, as data."""
    return names, options


_DELIMITER = _arg(
    "--delimiter",
    metavar="CHAR",
    type=_delimiter,
    help="the character between the fields of a CSV --data (default: the training "
    "config's data.delimiter, else detected among , ; and tab)",
)
_ENCODING = _arg(
    "--encoding",
    metavar="NAME",
    type=_encoding,
    help="the text encoding of a CSV --data (default: the training config's data.encoding, "
    "else utf-8)",
)

_SET = _arg(
    "--set",
    action="append",
    metavar="KEY.PATH=VALUE",
    help="override a config value, e.g. --set train.epochs=5 "
    "--set 'train.schedule={name: constant, eta0: 0.01}' (repeatable)",
)
_MODEL = _arg("model", metavar="RUN_DIR_OR_MODEL")
_FORCE_OUT = _arg(
    "--force",
    action="store_true",
    help="replace an existing --out file once the new one is complete (only a regular file "
    "outside run and sweep directories)",
)

# name: (function, help, description, arguments)
COMMANDS = {
    "train": (
        cmd_train,
        "train a network from a YAML config into a run directory",
        "Train from CONFIG and write a run directory: config.yaml, model.npz, history.csv, "
        "metrics.json, checkpoint.npz. Ctrl-C saves a checkpoint; --resume continues it exactly.",
        [
            _arg("config", nargs="?", metavar="CONFIG", help="the YAML config file"),
            _SET,
            _arg(
                "--out",
                metavar="DIR",
                help="the run directory (default: output.dir of the "
                "config, or its next free name runs/x-2, ... if taken)",
            ),
            _arg(
                "--force",
                action="store_true",
                help="replace an existing run directory (once the new run is complete)",
            ),
            _arg("--quiet", action="store_true", help="no progress output"),
            _arg(
                "--resume",
                metavar="RUN_DIR",
                help="continue an interrupted run from its checkpoint and saved config",
            ),
            _arg("--stop-after-steps", type=_positive_int, help=argparse.SUPPRESS),
        ],
    ),
    "evaluate": (
        cmd_evaluate,
        "accuracy, log-loss, F1 and confusion matrix of a model",
        "Evaluate a run (on its own test split by default) or a model file (on --data) with "
        "scikit-learn's metrics.",
        [
            _MODEL,
            _arg(
                "--data",
                metavar="SOURCE",
                help="labelled data: sklearn:NAME, a .csv or .parquet (with a label column), "
                "a .npz (X, y) or a folder of X.npy and y.npy (not synthetic: it has no "
                "fixed features)",
            ),
            _arg(
                "--target",
                metavar="COLUMN",
                help="the label column of a CSV or Parquet file (default: the training "
                "config's data.target, else the one column that is not a feature)",
            ),
            _DELIMITER,
            _ENCODING,
            _arg(
                "--json",
                action="store_true",
                help="print one JSON object: accuracy, balanced_accuracy, log_loss, macro_f1, "
                "per_class, confusion_matrix, n_samples",
            ),
        ],
    ),
    "predict": (
        cmd_predict,
        "write labels and class probabilities for new data",
        "Predict a label and p(k|x) for every class for each row of --data (features only; "
        "a label column is ignored).",
        [
            _MODEL,
            _arg(
                "--data",
                metavar="SOURCE",
                required=True,
                help="sklearn:NAME, a .csv or .parquet (columns matched by name), a .npz (X) "
                "or a folder of X.npy (not synthetic: it has no fixed features)",
            ),
            _arg(
                "--out",
                metavar="FILE",
                required=True,
                help="the CSV to write (label, p_<class>, ...), or - for stdout",
            ),
            _arg(
                "--keep",
                metavar="COLUMN",
                nargs="+",
                help="columns of a CSV or Parquet --data (an id, a name) to copy, as read, "
                "into the first columns of the output",
            ),
            _DELIMITER,
            _ENCODING,
            _FORCE_OUT,
        ],
    ),
    "export": (
        cmd_export,
        "write a model as ONNX, for onnxruntime and other ONNX servers",
        "Write the model (its preparation, standardisation, layers and softmax) as an ONNX "
        "graph: input X float32 (N, d) of raw features, or one input per column (float32 or "
        "string, (N, 1)) for a model with categorical columns or missing-value inputs; "
        "outputs label (N,) and probabilities (N, K). Needs "
        'the onnx package: pip install "nnclf[onnx]".',
        [
            _MODEL,
            _arg("--out", metavar="FILE", required=True, help="the .onnx file to write"),
            _FORCE_OUT,
        ],
    ),
    "info": (
        cmd_info,
        "a model card: architecture, training settings, data, metrics, versions",
        "Describe a run directory or a model file: the network (d, layers, K, transfer "
        "functions, parameter count), its training settings, its data (source, fingerprint, "
        "features, classes), the run's metrics and the versions that made it.",
        [
            _MODEL,
            _arg(
                "--json",
                action="store_true",
                help="print one JSON object: model, run_dir, "
                "architecture, training, data, metrics, versions",
            ),
        ],
    ),
    "gradcheck": (
        cmd_gradcheck,
        "check backpropagation against finite differences",
        "On a few examples of the configured data and network, compare backprop (VJP mode), "
        "the Jacobian mode and the path sum with central finite differences. Exit 1 on "
        "disagreement.",
        [
            _arg("config", metavar="CONFIG"),
            _SET,
            _arg(
                "--examples",
                type=_positive_int,
                default=3,
                help="how many training examples to check (default 3)",
            ),
        ],
    ),
    "graph": (
        cmd_graph,
        "print the network's computational graph as DOT",
        "Print the configured network's graph in Graphviz DOT, each vertex with its "
        "dimension; e.g. nnclf graph configs/iris.yaml | dot -Tpng > graph.png (dot is "
        "Graphviz's renderer: apt-get install graphviz, or brew install graphviz).",
        [_arg("config", metavar="CONFIG"), _SET],
    ),
    "plot": (
        cmd_plot,
        "learning curves and confusion matrix as PNG files",
        "Write learning_curves.png and confusion_matrix.png into RUN_DIR. Needs matplotlib: "
        'pip install "nnclf[plot]".',
        [_arg("run_dir", metavar="RUN_DIR")],
    ),
    "explain": (
        cmd_explain,
        "an interactive page of the network's graph on one example",
        "Write one self-contained HTML page (no network access when opened) of the notes' "
        "computational graph on training example I: the forward and backward passes step by "
        "step, each edge's Jacobian J^{j->i}, each vertex's paths to the output and their sum "
        "p^j, and one SGD step. A config shows its initial parameters, a run directory its "
        "trained ones.",
        [
            _arg("target", metavar="CONFIG_OR_RUN", help="a YAML config or a run directory"),
            _arg(
                "--example",
                type=int,
                default=0,
                metavar="I",
                help="the training example shown, 0-based (default 0)",
            ),
            _arg(
                "--out",
                metavar="FILE",
                help="the page to write (default: RUN/explain.html for a run, explain.html "
                "here for a config)",
            ),
            _FORCE_OUT,
        ],
    ),
    "report": (
        cmd_report,
        "a self-contained HTML page of a run or a sweep",
        "Write one self-contained HTML page of a run (learning curves, confusion matrix, "
        "per-class scores, model card, data preparation, training settings) or of a sweep "
        "directory (its trials' table, sortable by any column, and the metric against each "
        "swept value).",
        [
            _arg("run_dir", metavar="RUN_OR_SWEEP_DIR"),
            _arg(
                "--out",
                metavar="FILE",
                help="the page to write (default: report.html inside the run or sweep directory)",
            ),
            _FORCE_OUT,
        ],
    ),
    "sweep": (
        cmd_sweep,
        "train many configurations at once, locally or on a Dask cluster",
        "Expand SWEEP (a base config, grid and random axes written as --set keys, seeds, the "
        "metric) into trials and train them in parallel, each into a run directory "
        "SWEEP_DIR/trial-NNNN; sweep.csv holds every trial's metrics. Prints the "
        "configurations ranked by the metric's mean over seeds and the nnclf train command "
        "of the best. A search: block with method tpe proposes the trials with Optuna's TPE "
        'sampler and prunes poor ones early (pip install "nnclf[optuna]"). Ctrl-C stops '
        "it; --resume runs the trials that have not ended.",
        [
            _arg("sweep", nargs="?", metavar="SWEEP", help="the sweep YAML file"),
            _arg(
                "--jobs",
                type=_positive_int,
                default=os.cpu_count() or 1,
                help="local processes, each trial with one BLAS thread (default: the number "
                "of cores; at most 4 per core)",
            ),
            _arg(
                "--out",
                metavar="DIR",
                help="the sweep directory (default: the first free one "
                "of sweeps/NAME, sweeps/NAME-2, ...)",
            ),
            _arg(
                "--resume",
                metavar="SWEEP_DIR",
                help="run the trials of an interrupted sweep that have not ended",
            ),
            _arg(
                "--retry-failed",
                action="store_true",
                help="with --resume: run the failed trials again too",
            ),
            _arg(
                "--scheduler",
                metavar="ADDRESS",
                help="run the trials on an existing Dask "
                'cluster, e.g. tcp://127.0.0.1:8786 (pip install "nnclf[dask]")',
            ),
            _arg("--quiet", action="store_true", help="no line per trial"),
            _arg("--stop-after-trials", type=_positive_int, help=argparse.SUPPRESS),
        ],
    ),
    "serve": (
        cmd_serve,
        "answer predictions over HTTP, as MLflow's scoring server does",
        "Serve a model over HTTP with MLflow's scoring protocol: POST /invocations takes JSON "
        "(dataframe_split, dataframe_records, instances or inputs) or text/csv and answers "
        "each row's label and p(k|x), exactly as nnclf predict; GET /ping, /health, /version, "
        "/metadata. Loopback only unless --host says otherwise. SIGTERM or Ctrl-C finishes "
        'the requests in flight and exits 0. Needs pip install "nnclf[serve]".',
        [
            _MODEL,
            _arg(
                "--host",
                default="127.0.0.1",
                metavar="ADDRESS",
                help="the address to listen on (default 127.0.0.1, this machine only; "
                "0.0.0.0 for every interface)",
            ),
            _arg(
                "--port",
                type=_port,
                metavar="N",
                default=8080,
                help="the TCP port (default 8080; 0 for any free one, printed at start)",
            ),
            _arg(
                "--workers",
                type=_positive_int,
                default=1,
                metavar="N",
                help="processes answering requests, each with the model loaded (default 1)",
            ),
            _arg(
                "--max-body",
                type=_size,
                default=64 * 1024**2,
                metavar="BYTES",
                help="refuse (413) a request body larger than this (default 64MiB)",
            ),
            _arg(
                "--max-rows",
                type=_positive_int,
                metavar="N",
                default=100_000,
                help="refuse (413) a request of more rows than this (default 100000)",
            ),
            _arg("--quiet", action="store_true", help="no access log line per request"),
        ],
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``nnclf`` argument parser; a bad command line raises :class:`UsageError` (with
    "did you mean" for a mistyped command or option)."""
    parser = _Parser(
        prog="nnclf",
        description="Train and use the softmax network p(y|x) = softmax(V g(Wx + b) + gamma) "
        "of Collins' notes, by SGD with backpropagation on a computational graph.",
        epilog="Start with: nnclf train configs/digits.yaml; then nnclf evaluate runs/digits. "
        "Exit codes: 0 ok, 1 diverged or gradcheck failed, 2 bad input, 130 interrupted "
        "(Ctrl-C), 143 terminated (SIGTERM).",
    )
    parser.add_argument("--version", action="version", version=f"nnclf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parser.commands = {}
    for name, (func, summary, description, arguments) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=description)
        for names, options in arguments:
            p.add_argument(*names, **options)
        p.set_defaults(func=func)
        parser.commands[name] = p
    return parser


def _parse(argv) -> argparse.Namespace:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # as parse_args would say, but knowing the command (for "did you mean")
        parser._chosen = parser.commands[args.command]
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


class _Signals:
    """While a command runs, SIGTERM is handled as Ctrl-C is at that moment: by calling the
    SIGINT handler in force (the trainer's, which stops between two steps and saves a
    checkpoint; or Python's, which raises KeyboardInterrupt), and by raising
    KeyboardInterrupt when SIGINT is ignored (a background job of a script, nohup): SIGTERM
    is never ignored. Remembers which signal came."""

    def __init__(self):
        self.received: int | None = None

    def exit_code(self) -> int:
        return EXIT_TERMINATED if self.received == signal.SIGTERM else EXIT_INTERRUPTED

    def _terminate(self, signum, frame) -> None:
        self.received = signum
        handler = signal.getsignal(signal.SIGINT)
        if not callable(handler):  # SIG_IGN, SIG_DFL, or a handler not set from Python
            raise KeyboardInterrupt
        handler(signal.SIGINT, frame)

    @contextmanager
    def installed(self):
        self.received = None
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGTERM, self._terminate)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)


_SIGNALS = _Signals()


# ----------------------------------------------------------------------------- the edge


def main(argv=None) -> int:
    """The console script; returns the exit code."""
    with _SIGNALS.installed():
        return _run(argv)


def _run(argv) -> int:
    try:
        args = _parse(argv)
        return args.func(args)
    except NnclfError as e:
        if isinstance(e, DivergenceError):  # what the trainer kept in memory is not written
            e = e.keeping("nothing was written")
        _say(f"nnclf: error: {_one_line(e)}")
        return e.exit_code
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:  # e.g. nnclf evaluate --json | head: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as e:  # the machine refusing (permission denied, disk full), not a bug
        where = f"{e.filename}: " if e.filename else ""
        _say(f"nnclf: error: {where}{_one_line(e.strerror or e)}")
        return EXIT_USAGE
    except Exception as e:
        if _raised_by_interrupt(e):  # Ctrl-C or SIGTERM inside an import or a C extension
            return _interrupted()
        traceback.print_exc()
        _say(
            f"nnclf: internal error: this is a bug in nnclf {__version__}; please report it "
            "with the traceback above"
        )
        return EXIT_FAILED


def _interrupted() -> int:
    how = "terminated" if _SIGNALS.received == signal.SIGTERM else "interrupted"
    _say(f"nnclf: {how}; nothing was written")
    return _SIGNALS.exit_code()


def _raised_by_interrupt(e: BaseException) -> bool:
    """Whether a KeyboardInterrupt is in e's chain of causes: a signal that arrives while an
    extension module initialises comes out as, e.g., ImportError("initialization failed")."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


if __name__ == "__main__":
    sys.exit(main())
