"""Reading rnnlab checkpoints safely, and deciding where a run continues from.

* ``load_checkpoint(path)``: ``torch.load(..., weights_only=True)`` with one-line
  ``ConfigError`` messages for a missing, empty, truncated or corrupt file, or one that is
  not an rnnlab checkpoint.
* ``resume_checkpoint(cfg)``: the checkpoint ``trainer.fit`` should continue from:
  ``ckpt_path=PATH``, or with ``resume=true`` the run directory's ``checkpoints/last.ckpt``.
  The config must describe the same model (and, for ``resume``, the same data and seed) as
  the one stored in the checkpoint, so a forgotten override fails here with the difference,
  not with a wall of shape mismatches.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from rnnlab import rundir
from rnnlab.errors import ConfigError, one_line
from rnnlab.models.module import CHECKPOINT_KEY
from rnnlab.run.config import backbone_name, flatten, plain_config
from rnnlab.run.failures import is_multirun
from rnnlab.run.validation import shown
from rnnlab.rundir import archive_previous

log = logging.getLogger(__name__)

LAST = Path(rundir.LAST_CKPT)
# What must match for a resume (the same run) and for ckpt_path (weights that fit).
SAME_RUN_KEYS = ("data", "model", "seed")
SAME_WEIGHTS_KEYS = ("model.backbone", "model.head")


def load_checkpoint(path: str | Path, setting: str = "ckpt_path") -> dict[str, Any]:
    """Load an rnnlab checkpoint on the CPU with ``weights_only=True``; ``setting`` names the
    config key the path came from, for the message."""
    file = Path(path).expanduser()
    where = f"{setting}={path}"
    if not file.exists():
        raise ConfigError(f"{where}: no such file")
    if file.is_dir():
        raise ConfigError(f"{where} is a directory; give a .ckpt file (<run dir>/{LAST})")
    if file.stat().st_size == 0:
        raise ConfigError(f"{where} is empty (0 bytes): the file was cut off while written")
    try:
        with warnings.catch_warnings():
            # Plain pickles (not torch.save files) add a warning about their protocol.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ckpt = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" in str(exc).lower():
            raise ConfigError(
                f"{where} is not an rnnlab checkpoint, or is corrupt: "
                "torch.load(weights_only=True) refuses what it holds"
            ) from None
        raise ConfigError(
            f"{where} cannot be read: corrupt file ({one_line(exc, limit=90)})"
        ) from None
    except Exception as exc:  # damaged bytes surface as almost any error type in unpickling
        raise ConfigError(
            f"{where} cannot be read: truncated or corrupt file ({one_line(exc, limit=90)})"
        ) from None
    stored = ckpt.get(CHECKPOINT_KEY) if isinstance(ckpt, dict) else None
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        raise ConfigError(
            f"{where} is not an rnnlab checkpoint (no '{CHECKPOINT_KEY}' entry with the run's "
            f"config); train.py writes them as <run dir>/checkpoints/{{best,last}}.ckpt"
        )
    if "state_dict" not in ckpt:
        raise ConfigError(f"{where} is not an rnnlab checkpoint: it has no weights (state_dict)")
    return ckpt


def _select(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def config_differences(
    now: dict[str, Any], stored: dict[str, Any], keys: tuple[str, ...]
) -> list[str]:
    """``key (checkpoint: a, now: b)`` for every leaf under ``keys`` that differs."""
    diffs = []
    for key in keys:
        before = flatten(_select(stored, key), f"{key}.")
        after = flatten(_select(now, key), f"{key}.")
        for leaf in sorted(set(before) | set(after)):
            if before.get(leaf) != after.get(leaf):
                diffs.append(
                    f"{leaf} (checkpoint: {shown(before.get(leaf))}, now: {shown(after.get(leaf))})"
                )
    return diffs


def check_same_config(
    cfg: DictConfig, ckpt: dict[str, Any], setting: str, keys: tuple[str, ...]
) -> None:
    """Refuse to continue a checkpoint under a config that differs in ``keys``."""
    stored = ckpt[CHECKPOINT_KEY]["config"]
    diffs = config_differences(plain_config(cfg), stored, keys)
    if not diffs:
        return
    hint = ""
    if any(d.startswith("model.backbone._target_") for d in diffs):
        hint = f" (the checkpoint's backbone is backbone={backbone_name(stored)})"
    more = f" and {len(diffs) - 3} more" if len(diffs) > 3 else ""
    raise ConfigError(
        f"{setting}: the config differs from the checkpoint's in {'; '.join(diffs[:3])}{more}; "
        f"repeat the run's overrides{hint}"
    )


def resume_checkpoint(cfg: DictConfig) -> str | None:
    """The checkpoint to continue from (``None``: start from scratch); see the module doc.

    With ``resume=true`` results of an earlier attempt in the run directory
    (``metrics.json``, ``error.txt``) are moved aside, never deleted.
    """
    resume, ckpt_path = bool(cfg.get("resume", False)), cfg.get("ckpt_path")
    run_dir = Path(cfg.paths.output_dir)
    if resume and ckpt_path:
        raise ConfigError(
            f"resume=true and ckpt_path={ckpt_path} are both set: resume=true continues this "
            "run directory from its last.ckpt, ckpt_path=PATH any checkpoint; use one"
        )
    if ckpt_path:
        ckpt = load_checkpoint(ckpt_path, "ckpt_path")
        check_same_config(cfg, ckpt, f"ckpt_path={ckpt_path}", SAME_WEIGHTS_KEYS)
        return str(ckpt_path)
    if not resume:
        return None
    path = run_dir / LAST
    if not path.is_file():
        if is_multirun():  # a job of a resumed sweep that never got to save: start it
            log.warning("resume=true: no %s yet, this job starts from scratch", path)
            archive_previous(run_dir)
            return None
        raise ConfigError(
            f"resume=true: no checkpoint at {path}; continue a run in its own directory: "
            "python train.py resume=true hydra.run.dir=<run dir> <the run's overrides>"
        )
    ckpt = load_checkpoint(path, "resume")
    check_same_config(cfg, ckpt, "resume=true", SAME_RUN_KEYS)
    archive_previous(run_dir)
    log.info("resume=true: continuing from %s (after epoch %s)", path, ckpt.get("epoch", -1) + 1)
    return str(path)
