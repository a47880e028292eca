from nnclf.base.suggest import closest, did_you_mean


def test_closest_ignores_case_and_keeps_the_choice_spelling():
    assert closest("Inverse_Tme", ["constant", "inverse_time"]) == "inverse_time"
    assert closest("SPECIES", ["sepal_length", "species"]) == "species"
    assert closest("zzzz", ["tanh", "relu"]) is None
    assert closest(3, ["tanh"]) is None


def test_did_you_mean_text():
    assert did_you_mean("tahn", ["tanh", "relu"]) == " (did you mean 'tanh'?)"
    assert did_you_mean("zzzz", ["tanh", "relu"]) == ""
