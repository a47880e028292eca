"""The ``nnclf`` command: train, evaluate, predict, gradcheck, graph, plot.

Exit codes: 0 success; 1 training diverged or a gradient check disagreed; 2 bad input (one
line on stderr, ``nnclf: error: ...``, and nothing written); 130 interrupted (Ctrl-C; a
training run is saved and can be resumed).

The argument parsing lives here; what each command does is in :mod:`nnclf.runner`, which is
imported only once the config has been read, so that ``--help`` and config errors are quick.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from . import __version__

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A command line argparse cannot make sense of."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        raise UsageError(f"{command}{message} (see {self.prog} --help)")


def _say(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- commands


def _load_config(path, overrides):
    from .config import load_config

    return load_config(path, overrides or ())


def cmd_train(args) -> int:
    from .config import OutputConfig

    if args.resume is not None:
        given = [flag for flag, value in (("CONFIG", args.config), ("--set", args.set),
                                          ("--out", args.out), ("--force", args.force)) if value]
        if given:
            raise ValueError(f"train --resume continues a run with its own saved config; "
                             f"drop {', '.join(given)}")
        from . import runner

        outcome = runner.resume(args.resume, quiet=args.quiet, stop_after=args.stop_after_steps)
        return _report_training(outcome, resumed=True)
    if args.config is None:
        raise ValueError("train needs a CONFIG file (e.g. nnclf train configs/digits.yaml), "
                         "or --resume RUN_DIR to continue a run")
    cfg = _load_config(args.config, args.set)
    if args.out is not None:
        cfg = replace(cfg, output=OutputConfig(args.out))
    from . import runner

    run_dir, note = runner.choose_run_dir(cfg.output.dir, explicit=args.out is not None,
                                          force=args.force)
    if note:
        _say(f"nnclf: {note}")
    outcome = runner.train(cfg, run_dir, replace_existing=args.force, quiet=args.quiet,
                           stop_after=args.stop_after_steps)
    return _report_training(outcome, resumed=False)


def _report_training(outcome, resumed: bool) -> int:
    if outcome.status == "interrupted":
        _say(f"nnclf: interrupted at step {outcome.steps} of {outcome.total_steps}; "
             f"resume with: {outcome.resume_command}")
        return EXIT_INTERRUPTED
    m = outcome.metrics
    how = {"completed": "", "early_stopping": f", early stopping (best step {m['best_step']})"}
    print(f"{'resumed and finished' if resumed else 'finished'} {outcome.steps} steps in "
          f"{outcome.seconds:.1f} s{how.get(outcome.stopped, ', ' + outcome.stopped)}")
    rows = [("", "examples", "accuracy", "log-loss", "macro F1")]
    for part in ("train", "validation", "test"):
        if m[part] is not None:
            r = m[part]
            rows.append((part, str(r["n_samples"]), f"{r['accuracy']:.4f}",
                         f"{r['log_loss']:.4f}", f"{r['macro_f1']:.4f}"))
    for row in rows:
        print(f"{row[0]:<11}" + "".join(f"{c:>10}" for c in row[1:]))
    print(f"run: {outcome.run_dir} (config.yaml, model.npz, history.csv, metrics.json, "
          "checkpoint.npz)")
    print(f"next: nnclf evaluate {outcome.run_dir}")
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from . import runner

    model, path, run_dir = runner.open_model(args.model)
    X, y, what = runner.evaluation_data(model, run_dir, args.data, args.target)
    report = runner.evaluate(model, X, y)
    if args.json:
        print(json.dumps(report))
    else:
        print(runner.format_report(report, [("model", str(path)), ("data", what)]))
    return EXIT_OK


def cmd_predict(args) -> int:
    from .archive import atomic_write_text

    out = None if args.out == "-" else Path(args.out)
    if out is not None:
        if out.exists() and not args.force:
            raise ValueError(f"--out {args.out}: the file exists; choose another name, "
                             "or add --force to overwrite it")
        if out.is_dir():
            raise ValueError(f"--out {args.out}: is a directory; give a file name")
        if not out.parent.is_dir():
            raise ValueError(f"--out {args.out}: directory '{out.parent}' does not exist; "
                             "create it first")
    from . import runner

    model, path, _ = runner.open_model(args.model)
    text = runner.predict(model, args.data)
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)
        _say(f"nnclf: wrote {text.count(chr(10)) - 1} predictions to {out}")
    return EXIT_OK


def cmd_gradcheck(args) -> int:
    cfg = _load_config(args.config, args.set)
    from . import runner

    text, ok = runner.gradcheck(cfg, args.examples)
    print(text)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_graph(args) -> int:
    cfg = _load_config(args.config, args.set)
    from . import runner

    sys.stdout.write(runner.graph_dot(cfg))
    return EXIT_OK


def cmd_plot(args) -> int:
    from . import runner

    for path in runner.plot(args.run_dir):
        print(f"wrote {path}")
    return EXIT_OK


# ----------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_set(p) -> None:
    p.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 "
                        "--set 'train.schedule={name: constant, eta0: 0.01}' (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nnclf",
        description="Train and use the softmax network p(y|x) = softmax(V g(Wx + b) + gamma) "
                    "of Collins' notes, by SGD with backpropagation on a computational graph.",
        epilog="Start with: nnclf train configs/digits.yaml; then nnclf evaluate runs/digits. "
               "Exit codes: 0 ok, 1 diverged or gradcheck failed, 2 bad input, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"nnclf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="train a network from a YAML config into a run directory",
                       description="Train from CONFIG and write a run directory: config.yaml, "
                                   "model.npz, history.csv, metrics.json, checkpoint.npz. "
                                   "Ctrl-C saves a checkpoint; --resume continues it exactly.")
    p.add_argument("config", nargs="?", metavar="CONFIG", help="the YAML config file")
    _add_set(p)
    p.add_argument("--out", metavar="DIR", help="the run directory (default: output.dir of "
                   "the config, or its next free name runs/x-2, ... if taken)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing run directory (once the new run is complete)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its checkpoint and saved config")
    p.add_argument("--stop-after-steps", type=_positive_int, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="accuracy, log-loss, F1 and confusion matrix of a model",
                       description="Evaluate a run (on its own test split by default) or a "
                                   "model file (on --data) with scikit-learn's metrics.")
    p.add_argument("model", metavar="RUN_DIR_OR_MODEL")
    p.add_argument("--data", metavar="SOURCE",
                   help="labelled data: a .csv, a .npz (X, y) or sklearn:<name>")
    p.add_argument("--target", metavar="COLUMN",
                   help="the label column of a CSV (default: the training config's data.target, "
                        "else the one column that is not a feature)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: accuracy, log_loss, macro_f1, per_class, "
                        "confusion_matrix, n_samples")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="write labels and class probabilities for new data",
                       description="Predict a label and p(k|x) for every class for each row of "
                                   "--data (features only; a label column is ignored).")
    p.add_argument("model", metavar="RUN_DIR_OR_MODEL")
    p.add_argument("--data", metavar="SOURCE", required=True,
                   help="a .csv (columns matched by name), a .npz (X) or sklearn:<name>")
    p.add_argument("--out", metavar="FILE", required=True,
                   help="the CSV to write (label, p_<class>, ...), or - for stdout")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("gradcheck", help="check backpropagation against finite differences",
                       description="On a few examples of the configured data and network, "
                                   "compare backprop (VJP mode), the Jacobian mode and the "
                                   "path sum with central finite differences. Exit 1 on "
                                   "disagreement.")
    p.add_argument("config", metavar="CONFIG")
    _add_set(p)
    p.add_argument("--examples", type=_positive_int, default=3,
                   help="how many training examples to check (default 3)")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("graph", help="print the network's computational graph as DOT",
                       description="Print the configured network's graph in Graphviz DOT, "
                                   "each vertex with its dimension; e.g. "
                                   "nnclf graph configs/iris.yaml | dot -Tpng > graph.png")
    p.add_argument("config", metavar="CONFIG")
    _add_set(p)
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("plot", help="learning curves and confusion matrix as PNG files",
                       description="Write learning_curves.png and confusion_matrix.png into "
                                   'RUN_DIR. Needs matplotlib: pip install "nnclf[plot]".')
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=cmd_plot)
    return parser


def main(argv=None) -> int:
    """The console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UsageError as e:
        _say(f"nnclf: error: {_one_line(e)}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _say("nnclf: interrupted; nothing was written")
        return EXIT_INTERRUPTED
    except ValueError as e:  # also ModelFileError and DivergenceError
        from .sgd import DivergenceError

        if isinstance(e, DivergenceError):
            _say(f"nnclf: error: {_one_line(e)}; nothing was written")
            return EXIT_FAILED
        _say(f"nnclf: error: {_one_line(e)}")
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. nnclf evaluate --json | head: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        _say(f"nnclf: error: {where}{_one_line(e.strerror or e)}")
        return EXIT_USAGE


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


if __name__ == "__main__":
    sys.exit(main())
