"""Multi-step forecasts: the one-step model rolled forward on its own predictions.

    python train.py forecast.horizon=50                 # at the end of training
    python eval.py ckpt_path=PATH forecast.horizon=50   # for a saved checkpoint

From every test window that has ``horizon`` true values after it, the model predicts one
step, appends the prediction to its input window, drops the oldest value and repeats. The
error of step ``h`` is averaged over all those start points (``forecast.csv``, next to the
same curve for repeating the last value). ``plots/forecast.png`` shows a forecast from
the first test window against what happened, and one from the end of the data, beyond
anything observed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab.data.windows import WindowDataModule


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def roll_forward(model: nn.Module, context: Tensor, horizon: int) -> Tensor:
    """Forecast ``horizon`` steps after each window of ``context [B, L, 1]``: ``[B, horizon]``.

    Values stay in model units; the window slides over the model's own predictions.
    """
    window = context.to(_device(model))
    steps = []
    for _ in range(horizon):
        nxt = model(window)  # [B, L, 1] -> [B, 1]
        steps.append(nxt)
        window = torch.cat([window[:, 1:], nxt[:, :, None]], dim=1)  # slide by one
    return torch.cat(steps, dim=1).cpu()


def start_points(dm: WindowDataModule, horizon: int) -> int:
    """Number of test windows followed by ``horizon`` true values (one-line error if none)."""
    n_windows = len(dm.datasets["test"])
    n = n_windows - horizon + 1
    if n < 1:
        raise ValueError(
            f"forecast.horizon={horizon} is longer than the test split allows: it has "
            f"{n_windows} targets, so use forecast.horizon <= {n_windows}"
        )
    return n


def _future(dm: WindowDataModule, horizon: int) -> Tensor:
    """True values after every start point, ``[N, horizon]``, in model units."""
    targets = dm.datasets["test"].targets[:, 0].cpu()
    return targets.unfold(0, horizon, 1)  # [T] -> [T - H + 1, H]


def horizon_mse(model: nn.Module, dm: WindowDataModule, horizon: int) -> Tensor:
    """MSE of step ``1..horizon`` over all test start points, in original units: ``[horizon]``."""
    dm.setup()
    n = start_points(dm, horizon)
    pred = roll_forward(model, dm.datasets["test"].inputs[:n], horizon)
    err = dm.to_original_units(pred.double()) - dm.to_original_units(_future(dm, horizon).double())
    return (err**2).mean(dim=0)


def naive_horizon_mse(dm: WindowDataModule, horizon: int) -> Tensor:
    """The same curve for repeating the last value of each window."""
    dm.setup()
    n = start_points(dm, horizon)
    last = dm.datasets["test"].inputs[:n, -1].cpu().double()  # [N, 1], broadcast over steps
    err = dm.to_original_units(last) - dm.to_original_units(_future(dm, horizon).double())
    return (err**2).mean(dim=0)


def forecast_beyond(model: nn.Module, dm: WindowDataModule, horizon: int) -> tuple[Tensor, Tensor]:
    """``(time, value)`` of a forecast of ``horizon`` steps after the last observed point,
    in original units; the time axis continues with the series' last time step."""
    dm.setup()
    context = dm.series[-dm.seq_len :].cpu()[None, :, None]  # [1, L, 1]
    values = dm.to_original_units(roll_forward(model, context, horizon)[0].double())
    time = dm.time.double()
    step = (time[-1] - time[-2]).item() if len(time) > 1 else 1.0
    return time[-1] + step * torch.arange(1, horizon + 1, dtype=torch.float64), values


def run_forecast(model: nn.Module, dm: WindowDataModule, horizon: int, out_dir: Path) -> dict:
    """Write ``forecast.csv`` and ``plots/forecast.png`` under ``out_dir``; return summary
    numbers for ``metrics.json``."""
    import csv
    import io

    from rnnlab import rundir

    was_training = model.training
    model.eval()
    mse = horizon_mse(model, dm, horizon)
    naive = naive_horizon_mse(dm, horizon)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["step", "mse", "naive_last_mse"])
    writer.writerows(zip(range(1, horizon + 1), mse.tolist(), naive.tolist(), strict=True))
    rundir.write_atomic(Path(out_dir) / rundir.FORECAST, text.getvalue())
    plots_dir = Path(out_dir) / rundir.PLOTS
    plots_dir.mkdir(parents=True, exist_ok=True)
    forecast_figure(model, dm, horizon, mse, naive).savefig(plots_dir / "forecast.png", dpi=100)
    model.train(was_training)
    return {
        "forecast_horizon": horizon,
        "forecast_start_points": start_points(dm, horizon),
        "forecast_mse_step1": mse[0].item(),
        "forecast_mse_last_step": mse[-1].item(),
        "forecast_mse_mean": mse.mean().item(),
    }


def forecast_figure(
    model: nn.Module, dm: WindowDataModule, horizon: int, mse: Tensor, naive: Tensor
) -> Any:
    """The series with two rolled forecasts (from the first test window, and beyond the data)
    above the MSE per horizon step."""
    from rnnlab.report import plots

    time = dm.time.double()
    test = dm.datasets["test"]
    first = test.split.start + test.seq_len  # series index of the first test target
    in_test = dm.to_original_units(roll_forward(model, test.inputs[:1], horizon)[0].double())
    fig = plots.new_figure("forecast")
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 2])
    plots.forecast_paths(
        top,
        time,
        dm.to_original_units(dm.series.cpu().double()),
        float(time[test.split.start]),
        {
            f"{horizon}-step forecast from the first test window": (
                time[first : first + horizon],
                in_test,
            ),
            f"{horizon}-step forecast beyond the data": forecast_beyond(model, dm, horizon),
        },
    )
    plots.forecast_errors(
        bottom, {"model": mse, "repeat last value": naive}, start_points=start_points(dm, horizon)
    )
    return fig
