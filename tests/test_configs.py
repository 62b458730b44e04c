"""Every option of every config group composes, resolves and passes validation (no training)."""

from __future__ import annotations

from importlib.util import find_spec

import pytest
from omegaconf import OmegaConf

from rnnlab.errors import ConfigError
from rnnlab.run.config import CONF_DIR, compose_config
from rnnlab.run.validation import validate_config

# Options that need a value the group cannot know (the user's file) to be complete.
NEEDS = {"data=csv": ["data.path=data/sunspots_yearly.csv", "data.target=sunspots"]}
# A task other than forecasting needs data that serves it (data=sine serves task=forecast).
NEEDS.update(
    {
        "task=classify": ["data=digits"],
        "task=regress": ["data=adding"],
        "task=copy": ["data=copy"],
        "task=selective_copy": ["data=selective_copy"],
    }
)
NEEDS.update(
    {
        "data=panel": ["data.path=t.csv"],
        "data=tsf": ["data.path=t.tsf"],
        "task=panel": ["data=m1_yearly"],
    }
)
NEEDS["task=anomaly"] = ["data=sine_anomalies"]  # anomaly data: labelled series

# Trackers from optional extras (make install brings mlflow, not wandb): without the package,
# validation stops with the one line that names the extra.
EXTRAS = {"logger=mlflow": "mlflow", "logger=wandb": "wandb"}


def every_option() -> list[str]:
    options = []
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        group = path.parent.relative_to(CONF_DIR).as_posix()
        if group in (".", "local") or (group.startswith("hydra") and group != "hydra/launcher"):
            continue
        options.append(f"{group}={path.stem}")
    return options


OPTIONS = every_option()


def test_the_list_covers_every_group():
    groups = {o.split("=")[0] for o in OPTIONS}
    assert groups >= {"backbone", "callbacks", "data", "debug", "experiment", "hparams_search",
                      "logger", "model", "task", "trainer", "hydra/launcher"}  # fmt: skip


@pytest.mark.parametrize("option", OPTIONS)
def test_every_option_composes_resolves_and_validates(tmp_path, option):
    cfg = compose_config(tmp_path / "run", [option, *NEEDS.get(option, [])])
    plain = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert plain["model"]["_target_"] and plain["data"]["_target_"]
    extra = EXTRAS.get(option)
    if extra and find_spec(extra) is None:
        with pytest.raises(ConfigError, match=rf'pip install -e "\.\[{extra}\]"$'):
            validate_config(cfg)
        return
    validate_config(cfg)


def test_the_eval_config_composes_with_its_own_settings(tmp_path):
    """(train.yaml composes in every option above.) eval.yaml: the checkpoint and the
    settings merged over its stored data and report configs."""
    overrides = ["ckpt_path=x.ckpt", "+report.horizon=5", "+data.seed=7"]
    cfg = compose_config(tmp_path / "run", overrides, config_name="eval")
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert plain["ckpt_path"] == "x.ckpt" and plain["task_name"] == "eval"
    assert plain["report"] == {"horizon": 5} and plain["data"] == {"seed": 7}
    assert plain["paths"]["output_dir"] == str(tmp_path / "run")
