"""The test numbers of a tested model, with its baselines beside them, and its predictions as
a table (``predictions.csv``).

Every task's block of ``metrics.json`` carries the same four keys that say how to read it,
so the comparison table and the sweep report work for every task alike:

* ``task``: the task's name (``SequenceModel.task``);
* ``metric``: the key of the number that ranks runs (``test_mse``, ``test_accuracy``...);
* ``metric_goal``: ``min`` or ``max``;
* ``baselines``: ``{name: that number for the baseline}`` on the same test data;
* ``table``: further keys a comparison table shows for this task, in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def forecast_summary(tested: dict[str, float], dm: Any) -> dict[str, Any]:
    """``task=forecast``: MSE, RMSE, MAE and R² in the series' units, the noise floor and
    the ratio to it, and the naive and AR baselines on the same targets."""
    from rnnlab.report.baselines import baseline_metrics

    floor = dm.noise_floor_mse
    baselines = baseline_metrics(dm)  # naive_last_mse, linear_ar_mse
    return {
        "task": "forecast",
        "metric": "test_mse",
        "metric_goal": "min",
        "test_mse": tested["test/mse"],
        "test_rmse": tested["test/rmse"],
        "test_mae": tested["test/mae"],
        "test_r2": tested["test/r2"],
        "noise_floor_mse": floor,
        "test_mse_ratio": tested["test/mse"] / floor if floor else None,
        **baselines,
        "baselines": {name.removesuffix("_mse"): value for name, value in baselines.items()},
        "table": ["test_mse_ratio", "test_mae", "val_mse"],
    }


# Each task's summary (``SequenceModel.task`` -> function of Lightning's test values and the
# datamodule); a new task adds its own here.
SUMMARIES = {"forecast": forecast_summary}


def test_summary(model: Any, tested: dict[str, float], dm: Any) -> dict[str, Any]:
    """``metrics.json``'s test block for ``model``'s task (see the module docstring)."""
    return SUMMARIES[model.task](tested, dm)


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
