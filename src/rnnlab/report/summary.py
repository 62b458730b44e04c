"""The test numbers of a tested model, with the noise floor and the baselines beside them,
and its predictions as a table (``predictions.csv``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def test_summary(tested: dict[str, float], dm: Any) -> dict[str, Any]:
    """``metrics.json``'s test block: Lightning's ``test/*`` values, the noise floor, the
    ratio to it, and the naive and AR baselines on the same targets."""
    from rnnlab.report.baselines import baseline_metrics

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
    import io

    from rnnlab.rundir import write_atomic

    test = dm.datasets["test"]
    model.eval()
    with torch.no_grad():
        pred = model(test.inputs.to(model.device)).cpu()
    idx = test.split.target_index
    target = dm.to_original_units(test.targets.cpu())[:, 0]
    pred = dm.to_original_units(pred)[:, 0]
    time_axis = dm.time[idx]
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["index", "time", "target", "prediction"])
    writer.writerows(
        zip(idx.tolist(), time_axis.tolist(), target.tolist(), pred.tolist(), strict=True)
    )
    write_atomic(path, text.getvalue())
