"""Bad settings fail before any work with one line naming the setting, value and what is allowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from rnnlab.data.windows import split_problem
from rnnlab.errors import ConfigError
from rnnlab.run.build import build_run
from rnnlab.run.config import backbone_choices, compose_config
from rnnlab.run.validation import validate_config

ROOT = Path(__file__).resolve().parents[1]

# (overrides, pieces the message must contain: the setting, the value, what is allowed)
BAD_VALUES = [
    (["data.seq_len=0"], ["data.seq_len=0", "integer >= 1"]),
    (["data.seq_len=-5"], ["data.seq_len=-5", "integer >= 1"]),
    (["data.seq_len=2.5"], ["data.seq_len=2.5", "integer >= 1"]),
    (["data.seq_len=abc"], ["data.seq_len='abc'", "integer >= 1"]),
    (["data.seq_len=600"], ["data.seq_len=600", "data.sample_size=1000", "data.seq_len <= 259"]),
    (["data.val_fraction=0"], ["data.val_fraction=0", "number in (0, 1)"]),
    (["data.val_fraction=1.2"], ["data.val_fraction=1.2", "number in (0, 1)"]),
    (["data.test_fraction=0"], ["data.test_fraction=0", "number in (0, 1)"]),
    (["data.test_fraction=1.0"], ["data.test_fraction=1.0", "number in (0, 1)"]),
    (["data.test_fraction=-0.2"], ["data.test_fraction=-0.2", "number in (0, 1)"]),
    (
        ["data.val_fraction=0.5", "data.test_fraction=0.5"],
        ["data.val_fraction=0.5", "data.test_fraction=0.5", "sum to less than 1"],
    ),
    (
        ["data.val_fraction=0.3", "data.test_fraction=0.8"],
        ["data.val_fraction=0.3", "data.test_fraction=0.8", "sum to less than 1"],
    ),
    (
        ["data.val_fraction=0.0001"],
        ["data.val_fraction=0.0001", "validation split gets no windows", ">= 0.001"],
    ),
    (
        ["data.test_fraction=0.0002"],
        ["data.test_fraction=0.0002", "test split gets no windows", ">= 0.001"],
    ),
    (["data.sample_size=0"], ["data.sample_size=0", "integer >= 1"]),
    (["data.sample_size=1"], ["data.sample_size=1", "data.sample_size >= 79"]),
    (
        ["data.sample_size=50"],
        ["data.sample_size=50", "data.seq_len <= 12", "data.sample_size >= 79"],
    ),
    (["data.noise_std=-0.1"], ["data.noise_std=-0.1", "number >= 0"]),
    (["data.noise_std=nan"], ["data.noise_std=nan", "number >= 0"]),
    (["model.backbone.hidden_size=0"], ["model.backbone.hidden_size=0", "integer >= 1"]),
    (["model.backbone.hidden_size=-8"], ["model.backbone.hidden_size=-8", "integer >= 1"]),
    (["model.backbone.num_layers=0"], ["model.backbone.num_layers=0", "integer >= 1"]),
    (["model.backbone.dropout=1.0"], ["model.backbone.dropout=1.0", "number in [0, 1)"]),
    (["model.backbone.dropout=-0.1"], ["model.backbone.dropout=-0.1", "number in [0, 1)"]),
    (["model.optimizer.lr=0"], ["model.optimizer.lr=0", "number > 0"]),
    (["model.optimizer.lr=-0.01"], ["model.optimizer.lr=-0.01", "number > 0"]),
    (["model.optimizer.lr=inf"], ["model.optimizer.lr=inf", "number > 0"]),
    (["data.batch_size=0"], ["data.batch_size=0", "integer >= 1"]),
    (["data.batch_size=-64"], ["data.batch_size=-64", "integer >= 1"]),
    (["data.eval_batch_size=0"], ["data.eval_batch_size=0", "integer >= 1"]),
    (["trainer.max_epochs=0"], ["trainer.max_epochs=0", "integer >= 1"]),
    (["seed=-1"], ["seed=-1", "integer in [0, 4294967295]"]),
    (["test_ckpt=first"], ["test_ckpt='first'", "one of best, last"]),
    (
        ["model.backbone._target_=rnnlab.models.backbones.Transformer"],
        [
            "model.backbone._target_='rnnlab.models.backbones.Transformer'",
            # every shipped backbone is named (the classic four and the newer cells)
            f"the backbones in conf/backbone are {', '.join(backbone_choices())} ",
        ],
    ),
    (
        ["test_ckpt=best", "callbacks.model_checkpoint=null"],
        ["test_ckpt='best'", "callbacks.model_checkpoint", "test_ckpt=last"],
    ),
    (
        ["+model.backbone.hiden_size=3"],
        ["model.backbone.hiden_size", "takes no setting", "hidden_size"],
    ),
    (["+data.seqlen=30"], ["data.seqlen", "takes no setting 'seqlen'", "seq_len"]),
    (["data=csv", "data.target=x"], ["data.path", "required"]),
    (["data=csv", "data.path=x.csv", "data.target=x", "data.fill=zero"],
     ["data.fill='zero'", "one of error, interpolate"]),
    (["report.horizon=0"], ["report.horizon=0", "integer >= 1"]),
    (["report.horizon=2.5"], ["report.horizon=2.5", "integer >= 1"]),
    (["callbacks.figures.dpi=0"], ["callbacks.figures.dpi=0", "integer >= 1"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "pieces"), BAD_VALUES, ids=[" ".join(o) for o, _ in BAD_VALUES]
)
def test_every_bad_value_gets_a_one_line_message(tmp_path, overrides, pieces):
    cfg = compose_config(tmp_path / "run", overrides)
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    message = str(info.value)
    assert "\n" not in message
    for piece in pieces:
        assert piece in message, f"{piece!r} missing from: {message}"


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["backbone=scratch", "model.backbone.num_layers=2", "model.backbone.dropout=0.5"],
        ["data.seq_len=259"],  # the longest window the message above allows
        ["data.sample_size=79"],  # the smallest series it allows
        ["trainer.gradient_clip_val=null", "model.scheduler=null"],
        ["experiment=walkthrough"],
    ],
)
def test_good_settings_pass_and_build_a_run(tmp_path, overrides):
    cfg = compose_config(tmp_path / "run", overrides)
    validate_config(cfg)
    run = build_run(cfg)
    splits = run.datamodule.splits
    assert list(splits) == ["train", "val", "test"] and min(s.n_windows for s in splits.values())
    assert run.datamodule.seq_len == cfg.data.seq_len and len(run.datamodule.frame().series) == (
        cfg.data.sample_size
    )


def test_data_that_cannot_load_is_a_config_error(tmp_path):
    from rnnlab.run.build import build_data

    cfg = compose_config(tmp_path / "run", ["data=csv", "data.path=no/such.csv", "data.target=x"])
    validate_config(cfg)  # the settings are fine; the file is not
    with pytest.raises(ConfigError, match=r"^data.path='no/such.csv': no such file$"):
        build_data(cfg.data)


@pytest.mark.parametrize(("n_points", "seq_len"), [(1000, 600), (50, 20), (5000, 2000), (300, 150)])
def test_the_limits_a_message_names_are_exact(n_points, seq_len):
    """The bounds in the message are the real ones: at the bound every split has windows,
    one step past it a split is empty (checked against the datamodule itself)."""
    import re

    from rnnlab.data import SineDataModule

    def splits_all_have_windows(n: int, length: int) -> bool:
        dm = SineDataModule(sample_size=n, seq_len=length)
        try:
            dm.setup()
        except ValueError:
            return False
        return len(dm.datasets) == 3 and min(len(d) for d in dm.datasets.values()) >= 1

    message = split_problem(n_points, seq_len, 0.1, 0.2, 1, "data.sample_size")
    max_len = int(re.search(r"data.seq_len <= (\d+)", message).group(1))
    min_points = int(re.search(r"data.sample_size >= (\d+)", message).group(1))
    assert splits_all_have_windows(n_points, max_len)
    assert not splits_all_have_windows(n_points, max_len + 1)
    assert splits_all_have_windows(min_points, seq_len)
    assert not splits_all_have_windows(min_points - 1, seq_len)
    assert split_problem(n_points, max_len, 0.1, 0.2, 1, "data.sample_size") is None
    assert split_problem(min_points, seq_len, 0.1, 0.2, 1, "data.sample_size") is None


def test_unknown_backbone_gets_hydras_list_of_choices(tmp_path):
    with pytest.raises(MissingConfigException) as info:
        compose_config(tmp_path / "run", ["backbone=transformer"])
    message = str(info.value)
    assert "backbone/transformer" in message
    for name in ("gru", "lstm", "rnn", "scratch"):
        assert f"\t{name}" in message


def test_unknown_key_is_refused_by_hydra(tmp_path):
    with pytest.raises(ConfigCompositionException) as info:
        compose_config(tmp_path / "run", ["data.seqlen=30"])
    assert "data.seqlen" in str(info.value)


@pytest.mark.slow
def test_train_py_prints_one_error_line_and_exits_2(tmp_path):
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "model.backbone.dropout=1.5",
         f"hydra.run.dir={run_dir}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    expected = (
        "error: model.backbone.dropout=1.5 is invalid: it must be a number in [0, 1) "
        "(dropout between layers)"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == expected
    assert "Traceback" not in result.stderr + result.stdout
    assert (run_dir / "error.txt").read_text().splitlines()[0] == expected.removeprefix("error: ")
    assert not (run_dir / "metrics.json").exists()
    assert not (run_dir / "checkpoints").exists()  # nothing was trained
