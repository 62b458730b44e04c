"""Where the Hydra configs live, composing them from Python, and naming what they chose.

``python train.py`` composes ``conf/`` through ``@hydra.main``; tests, notebooks and
benchmarks use ``compose_config`` to get the very same config without a command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from rnnlab.data.labelled import aeon_data_dir

# Shipped inside the package, so an installed wheel has them too; the repository's top-level
# conf/ is a link to this folder.
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

# `${basename:${paths.output_dir}}`: a tracker's run is named as its run directory (OmegaConf
# has no path functions). Registered on import, before train.py or compose_config composes.
if not OmegaConf.has_resolver("basename"):
    OmegaConf.register_new_resolver("basename", lambda path: Path(str(path)).name)
# `${aeon:Airline/Airline.csv}`: a file of the data sets the aeon package ships (the `ucr`
# extra), for the suite's real series; without aeon, a path that names what is missing.
if not OmegaConf.has_resolver("aeon"):
    OmegaConf.register_new_resolver(
        "aeon", lambda name: str((aeon_data_dir() or Path("aeon-is-not-installed")) / name)
    )


def compose_config(
    output_dir: str | Path, overrides: Sequence[str] = (), config_name: str = "train"
) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with ``overrides`` as the command line would.

    The run directory is ``output_dir``, and Hydra's runtime config is set, so
    ``${hydra:...}`` interpolations (run dir, backbone choice) resolve as in a real run.
    """
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


def backbone_choices() -> list[str]:
    """The ``backbone=`` names that ``conf/backbone/`` offers."""
    return sorted(p.stem for p in (CONF_DIR / "backbone").glob("*.yaml"))


def backbone_name(cfg: DictConfig | dict) -> str:
    """The name of a run's backbone, for tables, titles and ``metrics.json``.

    The ``backbone=`` choice when Hydra made this run; otherwise the ``conf/backbone/`` file
    whose ``_target_`` is the run's (a config read back from a checkpoint); else the class
    name in lower case (a backbone from the user's own config directory).
    """
    if isinstance(cfg, DictConfig) and HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get("backbone")
        if choice:
            return str(choice)
    target = str(OmegaConf.select(OmegaConf.create(cfg), "model.backbone._target_") or "")
    for path in sorted((CONF_DIR / "backbone").glob("*.yaml")):
        if OmegaConf.load(path).get("_target_") == target:
            return path.stem
    return target.rsplit(".", 1)[-1].lower()


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> ``{"a.b.c": leaf}`` (lists and None are leaves too)."""
    if not isinstance(node, dict):
        return {prefix[:-1]: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}{key}."))
    return flat


def flat_settings(cfg: DictConfig, groups: Sequence[str] = ("data", "model", "trainer")) -> dict:
    """The run's settings as flat ``group.a.b`` keys with plain values (numbers, text,
    true/false; no ``_target_``-style keys), for trackers' parameter tables."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    flat = flatten({group: resolved.get(group) for group in groups})
    return {
        key: value
        for key, value in flat.items()
        if isinstance(value, (int, float, str, bool))
        and not any(part.startswith("_") for part in key.split("."))
    }


def plain_config(cfg: DictConfig) -> dict:
    """The run's config as plain, resolved containers (no ``hydra`` node): safe to pickle
    into checkpoints that must load with ``weights_only=True``."""
    return {
        key: OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        for key, value in cfg.items_ex(resolve=True)
        if key != "hydra"
    }
