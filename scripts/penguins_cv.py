"""Penguins, k-fold cross-validated accuracy: nnclf as it comes against scikit-learn.

Three learners see the same folds of data/penguins.csv (text columns, missing values):

- ``nnclf train`` with configs/penguins.yaml's defaults, trained on each fold's training
  rows (written as a CSV, no test split held out of them) and scored on the fold's test
  rows with ``nnclf predict``;
- ``NNClassifier()`` with its defaults, fit on the fold's DataFrame as pandas reads it;
- a scikit-learn pipeline of the same preparation (``SimpleImputer(strategy="median",
  add_indicator=True)`` and ``StandardScaler`` on the numeric columns,
  ``OneHotEncoder(handle_unknown="ignore")`` on the text columns with missing values as a
  category) and ``MLPClassifier()`` with its defaults.

Prints each learner's accuracy per fold, their means and standard deviations, and seconds.

    python scripts/penguins_cv.py [--folds 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "penguins.csv"
CONFIG = ROOT / "configs" / "penguins.yaml"
TEXT = ["island", "sex"]


def nnclf_cli(train, test, work: Path) -> float:
    """Accuracy of ``nnclf train`` (the config's defaults) on one fold, then ``predict``."""
    from nnclf.cli import main

    train.to_csv(work / "train.csv", index=False)
    test.drop(columns="species").to_csv(work / "test.csv", index=False)
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        code = main(
            ["train", str(CONFIG), "--out", str(work / "run"), "--force", "--quiet"]
            + ["--set", f"data.source={work / 'train.csv'}", "--set", "data.test_fraction=0"]
        )
        code = code or main(
            ["predict", str(work / "run"), "--data", str(work / "test.csv")]
            + ["--out", str(work / "p.csv"), "--force"]
        )
    if code:
        raise SystemExit(f"nnclf exited with {code}")
    import pandas as pd

    predicted = pd.read_csv(work / "p.csv")["label"].to_numpy()
    return float(np.mean(predicted == test["species"].to_numpy()))


def nnclf_estimator(train, test, seed: int) -> float:
    from nnclf import NNClassifier

    X, y = train.drop(columns="species"), train["species"]
    clf = NNClassifier(random_state=seed).fit(X, y)
    return float(clf.score(test.drop(columns="species"), test["species"]))


def sklearn_mlp(train, test, seed: int) -> float:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X = train.drop(columns="species")
    numeric = [c for c in X.columns if c not in TEXT]
    prepare = ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                numeric,
            ),
            (
                "text",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="<missing>"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                TEXT,
            ),
        ]
    )
    model = make_pipeline(prepare, MLPClassifier(random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLPClassifier's convergence warning at max_iter
        model.fit(X, train["species"])
    return float(model.score(test.drop(columns="species"), test["species"]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import pandas as pd
    from sklearn.model_selection import StratifiedKFold

    table = pd.read_csv(DATA)
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    learners = {
        "nnclf train (config defaults)": lambda tr, te, w: nnclf_cli(tr, te, w),
        "NNClassifier()": lambda tr, te, w: nnclf_estimator(tr, te, args.seed),
        "sklearn prep + MLPClassifier()": lambda tr, te, w: sklearn_mlp(tr, te, args.seed),
    }
    scores = {name: [] for name in learners}
    seconds = dict.fromkeys(learners, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        for train_rows, test_rows in folds.split(table, table["species"]):
            train, test = table.iloc[train_rows], table.iloc[test_rows]
            for name, learn in learners.items():
                start = time.perf_counter()
                scores[name].append(learn(train, test, Path(tmp)))
                seconds[name] += time.perf_counter() - start
    print(f"penguins ({len(table)} rows), {args.folds}-fold stratified CV, seed {args.seed}")
    print(f"{'learner':32} {'accuracy per fold':40} {'mean':>7} {'std':>7} {'seconds':>8}")
    for name, values in scores.items():
        per_fold = " ".join(f"{v:.3f}" for v in values)
        print(
            f"{name:32} {per_fold:40} {np.mean(values):7.4f} {np.std(values):7.4f} "
            f"{seconds[name]:8.1f}"
        )


if __name__ == "__main__":
    main()
