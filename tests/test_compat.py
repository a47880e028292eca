"""What 0.2 wrote still loads: pickles that name the old flat module paths."""

import pickle
import pickletools
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_pickled_classifier_of_0_2_unpickles_and_predicts_the_same():
    data = (FIXTURES / "nnclassifier-0.2.pkl").read_bytes()
    named = {
        arg
        for _, arg, _ in pickletools.genops(data)
        if isinstance(arg, str) and arg.startswith("nnclf.")
    }
    assert {"nnclf.trained", "nnclf.preprocessing"} <= named  # the old paths, as written
    clf = pickle.loads(data)
    X, y = load_iris(return_X_y=True)
    expected = np.load(FIXTURES / "nnclassifier-0.2-proba.npy")
    np.testing.assert_array_equal(clf.predict_proba(X), expected)
    clf.partial_fit(X, y)  # the trainer's state came back too (warm_start=True)
    assert not np.array_equal(clf.predict_proba(X), expected)


def test_a_pickle_made_now_names_only_the_new_modules():
    clf = pickle.loads((FIXTURES / "nnclassifier-0.2.pkl").read_bytes())
    data = pickle.dumps(clf)
    named = {
        arg
        for _, arg, _ in pickletools.genops(data)
        if isinstance(arg, str) and arg.startswith("nnclf.")
    }
    assert named and not named & {"nnclf.trained", "nnclf.preprocessing"}
    assert {n.split(".")[1] for n in named} <= {"estimator", "export", "data"}
    again = pickle.loads(data)
    X, _ = load_iris(return_X_y=True)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_the_aliases_are_the_modules_of_today():
    import nnclf.data.preprocessing
    import nnclf.export.trained
    import nnclf.preprocessing
    import nnclf.trained

    assert nnclf.trained is nnclf.export.trained
    assert nnclf.preprocessing is nnclf.data.preprocessing
