"""Schedules against hand-computed values of their formulas, and their error messages."""

import math
import re

import pytest

from nnclf.training.schedules import (
    SCHEDULES,
    Schedule,
    constant,
    cosine,
    exponential,
    inverse_time,
    invscaling,
    make_schedule,
    step,
)


@pytest.mark.parametrize(
    "schedule, t, expected",
    [
        # eta0
        (constant(0.1), 1, 0.1),
        (constant(0.1), 1000, 0.1),
        # eta0 / (1 + t / tau)
        (inverse_time(0.1, tau=10), 1, 0.1 / 1.1),
        (inverse_time(0.1, tau=10), 10, 0.05),
        (inverse_time(0.1, tau=10), 30, 0.025),
        # eta0 / t**power
        (invscaling(0.1), 1, 0.1),
        (invscaling(0.1), 4, 0.05),
        (invscaling(0.1), 100, 0.01),
        (invscaling(0.1, power=1), 8, 0.0125),
        (invscaling(0.1, power=0), 50, 0.1),
        # eta0 * factor**floor(t / every)
        (step(0.1, factor=0.5, every=10), 1, 0.1),
        (step(0.1, factor=0.5, every=10), 9, 0.1),
        (step(0.1, factor=0.5, every=10), 10, 0.05),
        (step(0.1, factor=0.5, every=10), 25, 0.025),
        # eta0 * rate**(t / every)
        (exponential(0.1, rate=0.9), 2, 0.081),
        (exponential(0.1, rate=0.5, every=2), 1, 0.07071067811865475),
        (exponential(0.1, rate=0.5, every=2), 2, 0.05),
        (exponential(0.1, rate=0.5, every=2), 4, 0.025),
        # floor + (eta0 - floor) * (1 + cos(pi * min(t, T) / T)) / 2
        (cosine(0.1, total_steps=100), 50, 0.05),
        (cosine(0.1, total_steps=100, floor=0.02), 25, 0.08828427124746190),
        (cosine(0.1, total_steps=100, floor=0.02), 50, 0.06),
        (cosine(0.1, total_steps=100, floor=0.02), 100, 0.02),
        (cosine(0.1, total_steps=100, floor=0.02), 500, 0.02),
    ],
)
def test_schedule_matches_hand_computed_formula(schedule, t, expected):
    assert schedule(t) == pytest.approx(expected, rel=1e-12)


def test_schedules_return_python_floats():
    for schedule in (constant(1), step(1, 0.5, 3), cosine(1, 10)):
        assert type(schedule(2)) is float


def test_warmup_ramps_linearly_to_the_base_schedule():
    eta = constant(0.1, warmup=4)
    assert [eta(t) for t in range(1, 7)] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])


def test_warmup_scales_base_at_its_own_t_then_base_continues_unchanged():
    eta = inverse_time(0.1, tau=10, warmup=5)
    assert eta(1) == pytest.approx(0.1 / 1.1 / 5)  # base(1) * 1/5
    assert eta(5) == pytest.approx(0.1 / 1.5)  # = base(5): continuous
    assert eta(6) == pytest.approx(0.0625)  # base(6) = 0.1 / 1.6
    assert eta(6) == inverse_time(0.1, tau=10)(6)


def test_warmup_zero_is_the_default_and_changes_nothing():
    assert step(0.1, 0.5, 2, warmup=0)(1) == 0.1
    assert step(0.1, 0.5, 2).params["warmup"] == 0


def test_name_params_repr_and_round_trip():
    eta = inverse_time(0.05, tau=20000, warmup=100)
    assert isinstance(eta, Schedule)
    assert eta.name == "inverse_time"
    assert dict(eta.params) == {"eta0": 0.05, "tau": 20000.0, "warmup": 100}
    assert repr(eta) == "inverse_time(eta0=0.05, tau=20000.0, warmup=100)"
    assert make_schedule(eta.to_dict()) == eta
    with pytest.raises(TypeError):
        eta.params["eta0"] = 1.0


def test_registry_lists_every_factory():
    assert set(SCHEDULES) == {
        "constant",
        "inverse_time",
        "invscaling",
        "step",
        "exponential",
        "cosine",
        "plateau",
    }
    for name, factory in SCHEDULES.items():
        assert factory.__name__ == name


def test_make_schedule_from_dict():
    eta = make_schedule({"name": "inverse_time", "eta0": 0.05, "tau": 20000})
    assert eta == inverse_time(0.05, 20000)
    assert eta(20000) == pytest.approx(0.025)
    assert (
        make_schedule({"name": "cosine", "eta0": 0.1, "total_steps": 100, "warmup": 10})(100) == 0.0
    )


def test_make_schedule_from_name_needs_every_required_parameter():
    with pytest.raises(ValueError, match=r"schedule: constant: missing required parameter 'eta0'"):
        make_schedule("constant")


def test_make_schedule_returns_a_schedule_unchanged():
    eta = constant(0.1)
    assert make_schedule(eta) is eta


# --- error messages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "factory, args",
    [
        (constant, ()),
        (inverse_time, (10,)),
        (invscaling, ()),
        (step, (0.5, 10)),
        (exponential, (0.9,)),
        (cosine, (100,)),
    ],
)
@pytest.mark.parametrize("eta0", [0, -0.1])
def test_non_positive_eta0_is_named(factory, args, eta0):
    with pytest.raises(
        ValueError, match=rf"schedule: {factory.__name__}: eta0 must be > 0, got {eta0}"
    ):
        factory(eta0, *args)


def test_bad_tau_is_named():
    with pytest.raises(ValueError, match=r"^schedule: inverse_time: tau must be > 0, got -3$"):
        inverse_time(0.1, tau=-3)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: invscaling(0.1, power=-1), r"schedule: invscaling: power must be >= 0, got -1"),
        (lambda: step(0.1, factor=0, every=10), r"schedule: step: factor must be > 0, got 0"),
        (
            lambda: step(0.1, factor=0.5, every=2.5),
            r"schedule: step: every must be an integer >= 1, got 2.5",
        ),
        (
            lambda: step(0.1, factor=0.5, every=0),
            r"schedule: step: every must be an integer >= 1, got 0",
        ),
        (lambda: exponential(0.1, rate=-0.5), r"schedule: exponential: rate must be > 0, got -0.5"),
        (
            lambda: cosine(0.1, total_steps=0),
            r"schedule: cosine: total_steps must be an integer >= 1, got 0",
        ),
        (
            lambda: cosine(0.1, 100, floor=0.2),
            r"schedule: cosine: floor must be in \[0, eta0=0.1\], got 0.2",
        ),
        (
            lambda: cosine(0.1, 100, floor=-0.01),
            r"schedule: cosine: floor must be in \[0, eta0=0.1\], got -0.01",
        ),
        (
            lambda: constant(0.1, warmup=-1),
            r"schedule: constant: warmup must be an integer >= 0, got -1",
        ),
        (lambda: constant(float("nan")), r"schedule: constant: eta0 must be finite, got nan"),
    ],
)
def test_other_bad_values_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("text", ["2e4", "20000", " 2e4 ", "2.0e+4", "inf", "1_000", "-3"])
def test_a_number_in_quotes_is_told_so(text):
    with pytest.raises(
        ValueError,
        match=r"schedule: inverse_time: tau must be a number, got "
        + re.escape(repr(text))
        + r" \(text, since it is in quotes; write the "
        r"number without them\)$",
    ):
        make_schedule({"name": "inverse_time", "eta0": 0.1, "tau": text})


@pytest.mark.parametrize("value", ["fast", "", "1e", "0x10", "e3", [1], {"a": 1}])
def test_the_quotes_hint_only_when_true(value):
    with pytest.raises(ValueError, match="must be a number") as info:
        make_schedule({"name": "inverse_time", "eta0": 0.1, "tau": value})
    assert "quotes" not in str(info.value) and "YAML" not in str(info.value)


def test_non_numeric_value_is_a_clear_error():
    with pytest.raises(ValueError, match=r"schedule: constant: eta0 must be a number, got None"):
        constant(None)
    with pytest.raises(ValueError, match=r"schedule: constant: eta0 must be a number, got True"):
        constant(True)


def test_unknown_name_suggests_nearest_and_lists_choices():
    with pytest.raises(
        ValueError,
        match=r"unknown schedule 'inverse_tme' \(did you mean 'inverse_time'\?\); "
        r"valid choices: constant, inverse_time, invscaling, step, "
        r"exponential, cosine",
    ):
        make_schedule({"name": "inverse_tme", "eta0": 0.1, "tau": 10})


def test_spec_without_name_lists_choices():
    with pytest.raises(ValueError, match=r"has no 'name'; choose one of: constant, inverse_time"):
        make_schedule({"eta0": 0.1})


def test_unknown_parameter_is_named_with_valid_ones():
    message = (
        r"schedule: step: unknown parameter 'evry' \(did you mean 'every'\?\); "
        r"valid parameters: eta0, factor, every, warmup"
    )
    with pytest.raises(ValueError, match=message):
        make_schedule({"name": "step", "eta0": 0.1, "factor": 0.5, "evry": 10})


def test_missing_parameter_is_named():
    with pytest.raises(
        ValueError,
        match=r"schedule: inverse_time: missing required parameter 'tau'; "
        r"required: eta0, tau",
    ):
        make_schedule({"name": "inverse_time", "eta0": 0.1})


@pytest.mark.parametrize("t", [0, -1, 0.5, float("nan")])
def test_step_before_one_is_an_error(t):
    with pytest.raises(
        ValueError,
        match=rf"schedule: constant: step t must be >= 1 \(steps count from 1\), "
        rf"got {t}",
    ):
        constant(0.1)(t)


def test_cosine_starts_near_eta0():
    # The formula gives eta0 at t = 0, but schedules are only defined for t >= 1.
    assert cosine(0.1, total_steps=10**9)(1) == pytest.approx(0.1)
    assert math.isclose(cosine(0.1, total_steps=2)(1), 0.05)


# ----------------------------------------------------------------------------- plateau


def test_plateau_follows_a_scripted_sequence_of_validation_losses():
    from nnclf.training.schedules import plateau

    s = plateau(0.8, factor=0.5, patience=2, min_delta=0.05)
    losses = [1.0, 0.9, 0.88, 0.87, 0.7, 0.7, 0.71, 0.6, float("nan"), 0.9, 0.2]
    # By hand: best 1.0; 0.9 improves (by > 0.05); 0.88 and 0.87 do not (bad 1, 2: k = 1);
    # 0.7 improves; 0.7, 0.71 bad (k = 2); 0.6 improves; nan and 0.9 bad (k = 3); 0.2 improves.
    etas = []
    for loss in losses:
        s.observe(loss)
        etas.append(s(1000))
    assert etas == [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1, 0.1]
    assert s.state_dict() == {"reductions": 3, "best": 0.2, "bad_evals": 0}
    assert list(s.values(5, 8)) == [0.1, 0.1, 0.1]


def test_plateau_never_goes_below_min_eta():
    from nnclf.training.schedules import plateau

    s = plateau(1.0, factor=0.1, patience=1, min_eta=0.05)
    for loss in [1.0, 2.0, 2.0, 2.0, 2.0]:
        s.observe(loss)
    assert s(1) == 0.05 and s.state["reductions"] == 2  # 1, 0.1, then max(0.01, 0.05)


def test_plateau_defaults_state_round_trip_and_fresh_copies():
    s = make_schedule({"name": "plateau", "eta0": 0.1})
    assert s.to_dict() == {
        "name": "plateau",
        "eta0": 0.1,
        "factor": 0.5,
        "patience": 3,
        "min_delta": 0.0,
        "min_eta": 0.0,
        "warmup": 0,
    }
    assert s.needs_validation and not constant(0.1).needs_validation
    for loss in [1.0, 1.0, 1.0, 1.0]:
        s.observe(loss)
    other = make_schedule(s)  # a fresh copy: its own state
    assert (s(1), other(1)) == (0.05, 0.1)
    other.load_state_dict(json_round_trip(s.state_dict()))
    assert other(1) == 0.05 and other.state == s.state


def json_round_trip(value):
    import json

    return json.loads(json.dumps(value))


@pytest.mark.parametrize(
    "state",
    [
        None,
        {},
        {"reductions": -1, "best": None, "bad_evals": 0},
        {"reductions": 1, "best": "x", "bad_evals": 0},
        {"reductions": 1, "best": 10**400, "bad_evals": 0},  # float() would overflow
        {"reductions": 2**63, "best": None, "bad_evals": 0},
    ],
)
def test_a_damaged_plateau_state_is_a_checkpoint_error(state):
    from nnclf.errors import CheckpointError

    with pytest.raises(CheckpointError, match="checkpoint: its plateau schedule state"):
        make_schedule({"name": "plateau", "eta0": 0.1}).load_state_dict(state)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"factor": 1}, "plateau: factor must be in (0, 1), got 1"),
        ({"factor": 0}, "plateau: factor must be in (0, 1), got 0"),
        ({"patience": 0}, "plateau: patience must be an integer >= 1, got 0"),
        ({"patience": 1.5}, "plateau: patience must be an integer >= 1, got 1.5"),
        ({"min_delta": -0.1}, "plateau: min_delta must be >= 0, got -0.1"),
        ({"min_eta": 0.2}, "plateau: min_eta must be in [0, eta0=0.1], got 0.2"),
        ({"cooldown": 2}, "plateau: unknown parameter 'cooldown'"),
    ],
)
def test_bad_plateau_parameters_are_named(params, message):
    with pytest.raises(ValueError) as e:
        make_schedule({"name": "plateau", "eta0": 0.1, **params})
    assert str(e.value).startswith("schedule: " + message)


def test_plateau_without_validation_data_is_a_config_error():
    from nnclf.config.load import config_from_dict

    with pytest.raises(
        ValueError,
        match=re.escape(
            "train.schedule: plateau is driven by the validation loss, which needs a validation "
            "set; set data.validation_fraction > 0 or choose another schedule"
        ),
    ):
        config_from_dict(
            {
                "data": {"validation_fraction": 0},
                "train": {"schedule": {"name": "plateau", "eta0": 0.1}},
            }
        )
