"""What a tested model leaves behind, shared by ``train.py`` and ``eval.py``: the test
numbers with the noise floor and the baselines, ``predictions.csv``, and tidy logging."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch


def test_summary(tested: dict[str, float], dm: Any) -> dict[str, Any]:
    """``metrics.json``'s test block: Lightning's ``test/*`` values, the noise floor, the
    ratio to it, and the naive and AR baselines on the same targets."""
    from rnnlab.baselines import baseline_metrics

    floor = dm.noise_floor_mse
    return {
        "test_mse": tested["test/mse"],
        "test_rmse": tested["test/rmse"],
        "test_mae": tested["test/mae"],
        "test_r2": tested["test/r2"],
        "noise_floor_mse": floor,
        "test_mse_ratio": tested["test/mse"] / floor if floor else None,
        **baseline_metrics(dm),  # naive_last_mse, linear_ar_mse
    }


def write_predictions(model: Any, dm: Any, path: Path) -> None:
    """Test targets and the model's predictions on the true time axis, in original units."""
    import csv

    test = dm.datasets["test"]
    model.eval()
    with torch.no_grad():
        pred = model(test.inputs.to(model.device)).cpu()
    idx = test.split.target_index
    target = dm.to_original_units(test.targets.cpu())[:, 0]
    pred = dm.to_original_units(pred)[:, 0]
    time_axis = dm.time[idx]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "time", "target", "prediction"])
        for row in zip(
            idx.tolist(), time_axis.tolist(), target.tolist(), pred.tolist(), strict=True
        ):
            writer.writerow(row)


def tidy_lightning_logging() -> None:
    """One line per message: ``import lightning`` adds a console handler of its own although
    Hydra's root handler already prints (and to the run's log file); also drop the advert
    for a hosted logging service that Lightning logs on every fit."""
    for handler in list(logging.getLogger("lightning").handlers):
        logging.getLogger("lightning").removeHandler(handler)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: "Tip: For seamless" not in record.getMessage()
    )
