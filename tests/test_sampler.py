"""The sampler against numpy's generator used by hand, as the sampler's docstring says."""

import json

import numpy as np
import pytest

from nnclf.training.sampler import Sampler, steps_per_epoch


def run_epochs(sampler, n, epochs):
    """The picks of ``epochs`` consecutive epochs, as the trainer walks them."""
    t, out = 0, []
    for _ in range(epochs):
        start, picks = sampler.epoch(t, n)
        assert start == t
        out.append(picks)
        t += len(picks)
        sampler.next_epoch(t)
    return out


def test_uniform_epochs_are_integers_drawn_one_epoch_at_a_time():
    rng = np.random.default_rng(4)
    got = run_epochs(Sampler("uniform", 1, seed=4), n=10, epochs=3)
    for picks in got:
        assert picks == rng.integers(0, 10, size=10).tolist()
        assert all(type(i) is int for i in picks)  # plain ints: the fastest row index


def test_shuffled_minibatches_cover_a_permutation_with_a_shorter_last_batch():
    rng = np.random.default_rng(1)
    got = run_epochs(Sampler("shuffle", 4, seed=1), n=10, epochs=2)
    for picks in got:
        order = rng.permutation(10)
        assert [len(p) for p in picks] == [4, 4, 2]
        np.testing.assert_array_equal(np.concatenate(picks), order)


def test_uniform_minibatches_draw_steps_times_batch_size_indices():
    rng = np.random.default_rng(2)
    (picks,) = run_epochs(Sampler("uniform", 4, seed=2), n=10, epochs=1)
    assert [len(p) for p in picks] == [4, 4, 4]  # ceil(10 / 4) steps of 4
    np.testing.assert_array_equal(np.concatenate(picks), rng.integers(0, 10, size=12))


def test_an_epoch_redraws_the_same_however_often_it_is_asked_for():
    sampler = Sampler("shuffle", 1, seed=3)
    first = sampler.epoch(0, 8)
    assert sampler.epoch(5, 8) == first  # mid-epoch: the same epoch, same picks


def test_the_epoch_start_is_kept_so_an_uneven_second_batch_gets_a_whole_epoch():
    # partial_fit on 6 then 9 examples: the second epoch starts at t = 6, not at 0 (the
    # multiple of 9 below 6), and is a fresh draw of 9 indices.
    rng = np.random.default_rng(0)
    sampler = Sampler("uniform", 1, seed=0)
    start, picks = sampler.epoch(0, 6)
    assert (start, picks) == (0, rng.integers(0, 6, size=6).tolist())
    sampler.next_epoch(6)
    start, picks = sampler.epoch(6, 9)
    assert (start, picks) == (6, rng.integers(0, 9, size=9).tolist())


def test_an_epoch_already_passed_with_a_smaller_n_starts_a_new_one():
    rng = np.random.default_rng(0)
    sampler = Sampler("uniform", 1, seed=0)
    sampler.epoch(0, 10)
    start, picks = sampler.epoch(7, 5)  # 7 steps into an epoch of 10; an epoch of 5 is over
    rng.integers(0, 5, size=5)  # the passed epoch, drawn to move the generator on
    assert (start, picks) == (7, rng.integers(0, 5, size=5).tolist())


def test_state_survives_json_and_continues_the_same_epochs():
    sampler = Sampler("shuffle", 2, seed=7)
    run_epochs(sampler, n=9, epochs=2)
    state = json.loads(json.dumps(sampler.state_dict()))
    assert state["epoch_start"] == 10
    again = Sampler("shuffle", 2, seed=123)
    again.load_state_dict(state)
    a, b = sampler.epoch(10, 9), again.epoch(10, 9)
    assert a[0] == b[0] == 10
    for x, y in zip(a[1], b[1]):
        np.testing.assert_array_equal(x, y)


def test_a_state_without_epoch_start_uses_the_grid_of_whole_epochs():
    # Checkpoints written before the epoch start was kept: the epoch holding t on the grid
    # 0, ceil(n / B), 2 ceil(n / B), ...
    sampler = Sampler("uniform", 1, seed=0)
    state = sampler.state_dict()
    del state["epoch_start"]
    sampler.load_state_dict(state)
    assert sampler.epoch(23, 10)[0] == 20


@pytest.mark.parametrize("n, B, steps", [(10, 1, 10), (10, 4, 3), (8, 4, 2), (1, 5, 1)])
def test_steps_per_epoch_is_the_ceiling(n, B, steps):
    assert steps_per_epoch(n, B) == steps == Sampler("uniform", B, 0).steps_per_epoch(n)
