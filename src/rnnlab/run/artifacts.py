"""What a tested model leaves in its run directory, the same for ``train.py`` and ``eval.py``.

``write_artifacts`` writes ``predictions.csv`` and, with ``forecast.horizon``,
``forecast.csv`` and ``plots/forecast.png``; ``metrics.json`` comes last, from
``finish_metrics``. The run's figures are drawn by the ``RunFigures`` callback when testing
ends, in both entries.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rnnlab import rundir

log = logging.getLogger(__name__)


def write_artifacts(model: Any, dm: Any, cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """``predictions.csv`` and the multi-step forecast the config asks for; returns the
    numbers they add to ``metrics.json``."""
    from rnnlab.report.summary import write_predictions

    write_predictions(model, dm, output_dir / rundir.PREDICTIONS)
    horizon = (cfg.get("forecast") or {}).get("horizon")
    if not horizon and getattr(model, "horizon", 1) > 1:  # a direct model: its own horizon
        horizon = model.horizon
    if not horizon:
        return {}
    from rnnlab.report.forecast import run_forecast

    return run_forecast(model, dm, horizon, output_dir)


def tidy_lightning_logging() -> None:
    """One line per message: ``import lightning`` adds a console handler of its own although
    Hydra's root handler already prints (and to the run's log file); also drop the advert
    for a hosted logging service that Lightning logs on every fit."""
    for handler in list(logging.getLogger("lightning").handlers):
        logging.getLogger("lightning").removeHandler(handler)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: "Tip: For seamless" not in record.getMessage()
    )
