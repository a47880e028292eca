"""Hostile configs: YAML 1.2's scalars, loops, deep nesting, alias bombs and data paths that
are not files each give one ConfigError naming the offender; property tests show that any
YAML text and any --set override either loads or raises nnclf's own error, nothing else."""

import os
import tracemalloc

import numpy as np
import pytest
import yaml

from nnclf.config.load import MAX_DEPTH, MAX_NODES, _Loader, config_from_dict, load_config
from nnclf.config.settings import SGDSettings
from nnclf.errors import ConfigError, NnclfError
from nnclf.graph.network import Network
from nnclf.training.trainer import Trainer

hypothesis = pytest.importorskip("hypothesis")  # in the test extra: pip install ".[test]"
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st

# Example counts and deadlines come from the hypothesis profile chosen in conftest.py.
SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def load(tmp_path, text, overrides=()):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, overrides)


# ----------------------------------------------------------------------------- YAML 1.2


# The core schema of YAML 1.2 (https://yaml.org/spec/1.2.2/#1032-tag-resolution), by hand.
SCALARS = [
    ("no", "no"),
    ("yes", "yes"),
    ("on", "on"),
    ("off", "off"),
    ("No", "No"),
    ("Y", "Y"),
    ("n", "n"),
    ("NO", "NO"),
    ("true", True),
    ("True", True),
    ("FALSE", False),
    ("1e-3", 0.001),
    ("1E3", 1000.0),
    ("-2.5e+2", -250.0),
    (".5", 0.5),
    ("1.", 1.0),
    ("010", 10),
    ("0o17", 15),
    ("0x1F", 31),
    ("-7", -7),
    ("+3", 3),
    ("1_000", "1_000"),
    ("1:20", "1:20"),
    ("2001-12-14", "2001-12-14"),
    ("~", None),
    ("null", None),
    ("", None),
    (".inf", float("inf")),
    ("-.Inf", float("-inf")),
    ("0b101", "0b101"),
    ("0o8", "0o8"),
]


@pytest.mark.parametrize("text, value", SCALARS)
def test_scalars_follow_yaml_1_2(text, value):
    assert yaml.load(f"a: {text}", Loader=_Loader) == {"a": value}
    assert type(yaml.load(f"a: {text}", Loader=_Loader)["a"]) is type(value)


@pytest.mark.parametrize("char", ["\x1f", "\x00", "\x7f", "\ufffe"])
def test_a_character_yaml_does_not_allow_is_one_line(tmp_path, char):
    with pytest.raises(
        ConfigError,
        match=rf"c.yaml: character 4 is #x{ord(char):04x}, which YAML "
        "does not allow; remove it$",
    ):
        load(tmp_path, f"a: {char}")


@pytest.mark.parametrize(
    "text",
    [
        "!!float ''",
        "!!float x",
        "!!int 1.5",
        "!!int ''",
        "!!bool maybe",
        "!!timestamp soon",
        "!!float 0x10",
        "!!int 1e3",
    ],
)
def test_an_explicit_tag_that_does_not_fit_is_one_error(tmp_path, text):
    with pytest.raises(
        ConfigError,
        match=r"c.yaml line 1, column 4: \w+ value '.*' cannot be "
        "read; remove the tag or fix the value$",
    ):
        load(tmp_path, f"a: {text}")


def test_nan_is_a_float():
    assert np.isnan(yaml.load("a: .nan", Loader=_Loader)["a"])


@pytest.mark.parametrize("word", ["no", "yes", "on", "off", "y", "n", "NO", "Off"])
def test_target_no_is_the_column_named_no(tmp_path, word):
    assert load(tmp_path, f"data: {{target: {word}}}").data.target == word
    assert load(tmp_path, "", [f"data.target={word}"]).data.target == word


@pytest.mark.parametrize("word", ["yes", "on", "no", "off"])
def test_yes_for_a_boolean_setting_says_true_or_false(tmp_path, word):
    with pytest.raises(
        ConfigError, match=f"^data.standardize must be true or false, got '{word}'$"
    ):
        load(tmp_path, f"data: {{standardize: {word}}}")


# ----------------------------------------------------------------------------- loops, depth, bombs


LOOPS = [
    "a: &a [*a]",
    "&a [*a]",
    "a: &a {b: *a}",
    "&x {data: *x}",
    "a: &a [1, [2, *a]]",
    "a: &a {b: [{c: *a}]}",
    "train: &t {schedule: *t}",
    "- &a\n  - *a",
    "a: &a\n  b: *a",
    "a: &a {<<: *a}",
]


@pytest.mark.parametrize("text", LOOPS)
def test_a_recursive_alias_is_one_error(tmp_path, text):
    with pytest.raises(
        ConfigError,
        match=r"c.yaml line \d+, column \d+: the alias \*\w is inside "
        r"the very collection it names \(a loop\); write the values out$",
    ):
        load(tmp_path, text)


def _nested(kind: str, depth: int) -> str:
    return {
        "flow list": "[" * depth + "]" * depth,
        "flow map": "{a: " * depth + "1" + "}" * depth,
        "block list": "".join("  " * i + "-\n" for i in range(depth - 1)) + "  " * depth + "- 1",
        "block map": "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "1",
        "mixed": "[{a: " * (depth // 2) + "1" + "}]" * (depth // 2),
    }[kind]


@pytest.mark.parametrize("kind", ["flow list", "flow map", "block list", "block map", "mixed"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 2, 1000, 5000])
def test_deep_nesting_is_one_error(tmp_path, kind, depth):
    with pytest.raises(
        ConfigError,
        match=rf"nested more than {MAX_DEPTH} deep; a config nests "
        "sections three deep$",
    ):
        load(tmp_path, _nested(kind, depth))


def test_nesting_up_to_the_limit_is_read():
    assert yaml.load(_nested("flow list", MAX_DEPTH - 1), Loader=_Loader) is not None


def _bomb(width: int, levels: int, scalar: str = '"lol"', kind: str = "list") -> str:
    def collection(items):
        return (
            "[" + ", ".join(items) + "]"
            if kind == "list"
            else "{" + ", ".join(f"k{i}: {x}" for i, x in enumerate(items)) + "}"
        )

    lines = [f"a0: &a0 {collection([scalar] * width)}"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} {collection([f'*a{i - 1}'] * width)}")
    return "\n".join(lines)


@pytest.mark.parametrize(
    "width, levels, kind",
    [
        (9, 9, "list"),
        (10, 10, "list"),
        (2, 40, "list"),
        (100, 3, "list"),
        (9, 9, "map"),
        (3, 20, "map"),
        (1000, 2, "list"),
    ],
)
def test_alias_bombs_are_refused_in_bounded_memory(tmp_path, width, levels, kind):
    tracemalloc.start()
    try:
        with pytest.raises(
            ConfigError,
            match=rf"holds more than {MAX_NODES} values once its "
            "aliases are expanded; a config holds a few dozen$",
        ):
            load(tmp_path, _bomb(width, levels, kind=kind))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200e6  # the document is small; its expansion (up to 9**9) is never built


def test_a_merge_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 {x: [1, 2, 3, 4, 5, 6, 7, 8]}"]
    lines += [f"a{i}: &a{i} {{p: {{<<: *a{i - 1}}}, q: {{<<: *a{i - 1}}}}}" for i in range(1, 30)]
    with pytest.raises(ConfigError, match="aliases are expanded"):
        load(tmp_path, "\n".join(lines))


def test_ordinary_anchors_and_merges_still_work(tmp_path):
    cfg = load(
        tmp_path,
        "model: &m {hidden_units: 7, transfer: relu}\n"
        "train:\n  schedule: {<<: {name: constant, eta0: 0.1}, warmup: 3}\n"
        "  epochs: &e 2\n  eval_every: *e\n",
    )
    assert cfg.model.hidden_units == 7 and cfg.model.transfer == "relu"
    assert cfg.train.schedule == {"name": "constant", "eta0": 0.1, "warmup": 3}
    assert cfg.train.eval_every == cfg.train.epochs == 2


# ----------------------------------------------------------------------------- data.source


def _non_files(tmp_path):
    (tmp_path / "loop.csv").symlink_to("loop.csv")
    os.symlink(tmp_path / "b.csv", tmp_path / "a.csv")
    os.symlink(tmp_path / "a.csv", tmp_path / "b.csv")
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "dir.npz").mkdir()
    os.mkfifo(tmp_path / "fifo.csv")
    os.mkfifo(tmp_path / "fifo.npz")
    (tmp_path / "dangling.csv").symlink_to("nowhere.csv")


@pytest.mark.parametrize(
    "name, problem",
    [
        ("loop.csv", "is a symbolic link loop; point it at the data file"),
        ("a.csv", "is a symbolic link loop; point it at the data file"),
        ("dir.csv", "is a directory, not a data file; give the file inside it"),
        ("dir.npz", "is a directory, not a data file; give the file inside it"),
        (
            "fifo.csv",
            "is not a regular file (a FIFO, socket or device); save the data to a file first",
        ),
        (
            "fifo.npz",
            "is not a regular file (a FIFO, socket or device); save the data to a file first",
        ),
        ("dangling.csv", "is a symbolic link to a file that does not exist"),
    ],
)
@pytest.mark.parametrize("where", ["cwd", "absolute", "beside the config"])
def test_a_data_source_that_is_not_a_file_says_what_it_is(
    tmp_path, monkeypatch, name, problem, where
):
    _non_files(tmp_path)
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    if where == "cwd":
        monkeypatch.chdir(tmp_path)
        source, shown = name, name
    elif where == "absolute":
        source = shown = str(tmp_path / name)
    else:
        monkeypatch.chdir(config_dir)
        source, shown = name, os.path.join(str(tmp_path), name)
    with pytest.raises(ConfigError) as caught:
        config_from_dict(
            {"data": {"source": source}},
            base_dir=tmp_path if where == "beside the config" else config_dir,
        )
    assert str(caught.value) == f"data.source: file '{shown}' {problem}"


# ----------------------------------------------------------------------------- warmup in fit


@pytest.mark.parametrize("n, epochs, batch, warmup", [(5, 1, 1, 6), (10, 2, 4, 7), (3, 1, 3, 2)])
def test_fit_refuses_a_warmup_longer_than_training(n, epochs, batch, warmup):
    T = epochs * -(-n // batch)
    settings_ = SGDSettings(
        epochs=epochs,
        batch_size=batch,
        schedule={"name": "constant", "eta0": 0.1, "warmup": warmup},
    )
    trainer = Trainer(Network(2, 3, 2, seed=0), settings_, progress="none")
    before = trainer.network.params["W"].copy()
    X, y = np.zeros((n, 2)), np.arange(n) % 2
    with pytest.raises(
        ConfigError,
        match=rf"^schedule.warmup is {warmup} steps but training is "
        rf"{T} steps; make warmup at most {T} or train longer \(train.epochs\)$",
    ):
        trainer.fit(X, y)
    assert trainer.t == 0 and np.array_equal(trainer.network.params["W"], before)


# ----------------------------------------------------------------------------- properties


YAML_WORDS = st.sampled_from(
    [
        "data",
        "model",
        "train",
        "output",
        "seed",
        "source",
        "target",
        "hidden_units",
        "schedule",
        "eta0",
        "name",
        "warmup",
        "l2",
        "epochs",
        "steps",
        "early_stopping",
        ":",
        ": ",
        "- ",
        "\n",
        "  ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "&a ",
        "*a",
        "<<",
        "!!python/object:os.system",
        "!!binary",
        "!!float",
        "'",
        '"',
        "#",
        "yes",
        "no",
        "1e-3",
        ".inf",
        "-1",
        "0",
        "1e400",
        "null",
        "~",
        "sklearn:iris",
        "x.csv",
        "constant",
        "\t",
        "%YAML 1.1\n",
        "---\n",
        "...\n",
        "|",
        ">",
        "?",
    ]
)
YAML_TEXT = st.one_of(st.text(max_size=200), st.lists(YAML_WORDS, max_size=60).map("".join))


@SETTINGS
@given(text=YAML_TEXT)
def test_any_yaml_text_loads_or_raises_nnclfs_error(tmp_path, text):
    try:
        load(tmp_path, text)
    except NnclfError as e:
        assert "\n" not in str(e)


OVERRIDE_KEYS = st.sampled_from(
    [
        "seed",
        "data",
        "data.source",
        "data.target",
        "data.standardize",
        "model",
        "model.hidden_units",
        "model.transfer",
        "train",
        "train.epochs",
        "train.steps",
        "train.schedule",
        "train.schedule.eta0",
        "train.schedule.warmup",
        "train.schedule.name",
        "train.early_stopping",
        "train.early_stopping.patience",
        "train.l2",
        "train.clip_norm",
        "output.dir",
        "nope",
        "train.nope",
        "data.source.x",
        "",
        ".",
    ]
)


@SETTINGS
@given(
    items=st.lists(st.tuples(OVERRIDE_KEYS, YAML_TEXT), max_size=4),
    raw=st.sampled_from(["", "=", "==", "x"]),
)
def test_any_override_loads_or_raises_nnclfs_error(tmp_path, items, raw):
    try:
        load(tmp_path, "train: {epochs: 2}\n", [f"{k}={v}" for k, v in items] + [raw] * bool(raw))
    except NnclfError as e:
        # One line, unless it quotes an override that holds a line break itself.
        assert "\n" not in str(e) or any("\n" in value for _, value in items)
