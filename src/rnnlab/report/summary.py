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

# A probabilistic forecaster's test metrics: Lightning's key -> metrics.json key.
PROBABILISTIC_KEYS = {
    "test/coverage80": "test_coverage80",  # share of targets inside the central 80 % interval
    "test/width80": "test_width80",  # mean width of that interval, series units
    "test/crps": "test_crps",
    "test/nll": "test_nll",  # Gaussian only
    "test/std_mean": "test_mean_std",  # Gaussian only: the mean predicted standard deviation
}


def forecast_summary(tested: dict[str, float], dm: Any) -> dict[str, Any]:
    """``task=forecast``: MSE, RMSE, MAE and R² in the series' units (over every step of the
    model's horizon, and per target when there are several), the noise floor and the ratio
    to it, the interval metrics of a probabilistic model, and the baselines on the same
    targets. ``worse_than_baselines`` names every baseline with a lower MSE than the model
    (a warning line says so too)."""
    import logging

    from rnnlab.report.baselines import baseline_metrics, worse_than

    floor = dm.noise_floor_mse
    baselines = baseline_metrics(dm)  # naive_last_mse, [seasonal_naive_mse,] linear_ar_mse
    named = {name.removesuffix("_mse"): value for name, value in baselines.items()}
    mse = tested["test/mse"]
    summary: dict[str, Any] = {
        "task": "forecast",
        "metric": "test_mse",
        "metric_goal": "min",
        "test_mse": mse,
        "test_rmse": tested["test/rmse"],
        "test_mae": tested["test/mae"],
        "test_r2": tested["test/r2"],
        "noise_floor_mse": floor,
        "test_mse_ratio": mse / floor if floor else None,
    }
    table = ["test_mse_ratio", "test_mae", "val_mse"]
    if dm.horizon > 1:
        summary["horizon"] = dm.horizon  # test_mse and the baselines average over the steps
    if dm.n_targets > 1:
        for name in dm.target_names:
            for metric in ("mse", "mae"):
                summary[f"test_{metric}_{name}"] = tested[f"test/{metric}/{name}"]
            table.append(f"test_mse_{name}")
    for key, name in PROBABILISTIC_KEYS.items():
        if key in tested:
            summary[name] = tested[key]
            table.append(name)
    worse = worse_than(mse, named)
    if worse:
        logging.getLogger(__name__).warning(
            "test_mse %.6g is worse than the baselines %s: the model has not learned what "
            "they know (see docs/forecasting.md)", mse,
            ", ".join(f"{name} ({named[name]:.6g})" for name in worse),
        )  # fmt: skip
    return {
        **summary,
        **baselines,
        "baselines": named,
        "worse_than_baselines": worse,
        "table": table,
    }


def regress_summary(tested: dict[str, float], dm: Any) -> dict[str, Any]:
    """``task=regress`` (the adding problem): MSE, RMSE, MAE, R², the data's baselines
    (adding: predicting 1, MSE about 1/6) and, where the data names a threshold, ``solved``."""
    summary = {
        "task": "regress",
        "metric": "test_mse",
        "metric_goal": "min",
        "test_mse": tested["test/mse"],
        "test_rmse": tested["test/rmse"],
        "test_mae": tested["test/mae"],
        "test_r2": tested["test/r2"],
        "baselines": dm.baselines() if hasattr(dm, "baselines") else {},
        "table": ["test_r2"],
    }
    threshold = getattr(dm, "solved_mse", None)
    if threshold is not None:
        summary.update(solved=tested["test/mse"] < threshold, solved_below=threshold)
        summary["table"] = ["solved", "test_r2"]
    return summary


def copy_summary(tested: dict[str, float], dm: Any) -> dict[str, Any]:
    """``task=copy``: cross-entropy over every step (Arjovsky et al.'s measure), accuracy on
    the recalled symbols, and the memoryless model's cross-entropy on the same test set
    (``memoryless_ce_formula``: n_recall·ln(n_symbols)/(T + 2·n_recall), what it tends to)."""
    memoryless = dm.memoryless_scores()
    return {
        "task": "copy",
        "metric": "test_ce",
        "metric_goal": "min",
        "test_ce": tested["test/loss"],
        "test_accuracy": tested["test/accuracy"],
        "memoryless_accuracy": memoryless["accuracy"],
        "memoryless_ce_formula": dm.formula_ce(),
        "baselines": {"memoryless": memoryless["ce"]},
        "table": ["test_accuracy"],
    }


def selective_copy_summary(tested: dict[str, float], dm: Any) -> dict[str, Any]:
    """``task=selective_copy``: accuracy on the recalled symbols (cross-entropy beside it)
    against the memoryless model (about 1/n_symbols)."""
    memoryless = dm.memoryless_scores()
    return {
        "task": "selective_copy",
        "metric": "test_accuracy",
        "metric_goal": "max",
        "test_accuracy": tested["test/accuracy"],
        "test_ce": tested["test/loss"],
        "memoryless_ce": memoryless["ce"],
        "baselines": {"memoryless": memoryless["accuracy"]},
        "table": ["test_ce"],
    }


def classify_summary(tested: dict[str, float], dm: Any) -> dict[str, Any]:
    """``task=classify``: accuracy and macro-F1 against the majority class and the
    1-nearest-neighbour (Euclidean) classifier on the same test sequences."""
    return {
        "task": "classify",
        "metric": "test_accuracy",
        "metric_goal": "max",
        "test_accuracy": tested["test/accuracy"],
        "test_f1_macro": tested["test/f1_macro"],
        "n_classes": dm.n_classes,
        "n_test": len(dm.sets["test"]),
        "baselines": dm.baselines(),
        "table": ["test_f1_macro"],
    }


# Each task's summary (``SequenceModel.task`` -> function of Lightning's test values and the
# datamodule); a new task adds its own here.
SUMMARIES = {
    "forecast": forecast_summary,
    "regress": regress_summary,
    "copy": copy_summary,
    "selective_copy": selective_copy_summary,
    "classify": classify_summary,
}


def test_summary(model: Any, tested: dict[str, float], dm: Any) -> dict[str, Any]:
    """``metrics.json``'s test block for ``model``'s task (see the module docstring)."""
    return SUMMARIES[model.task](tested, dm)


def validation_summary(
    model: Any, summary: dict[str, Any], fit_metrics: dict[str, float],
    best_loss: float | None, dm: Any, test_ckpt: str,
) -> dict[str, Any]:  # fmt: skip
    """The validation numbers of ``metrics.json`` beside a task's test block.

    ``val_<metric>`` is the tested weights' value of the task's metric (``val_mse``,
    ``val_accuracy``...). The best checkpoint is the one of lowest ``val/loss``: a forecast's
    loss is its MSE in model units (``best_val_mse`` is it in the series' units); for other
    tasks ``best_val_loss`` is that loss, and ``val_<metric>`` of the best weights is not
    measured (null with ``test_ckpt=best``).
    """
    if summary["task"] == "forecast":
        # val/loss is an MSE in model units; × scale² puts it in the series' own units like
        # val/mse (a task whose loss is no MSE, e.g. a probabilistic forecaster, says so
        # with None).
        as_mse = getattr(model, "val_loss_as_mse", lambda v: v * dm.scale**2)
        best = as_mse(best_loss) if best_loss is not None else None
        return {"val_mse": best if test_ckpt == "best" else fit_metrics.get("val/mse"),
                "best_val_mse": best}  # fmt: skip
    name = summary["metric"].removeprefix("test_")
    last = fit_metrics.get(f"val/{name}", fit_metrics.get("val/loss") if name == "ce" else None)
    return {f"val_{name}": last if test_ckpt == "last" else None, "best_val_loss": best_loss}


@torch.no_grad()
def predict(model: Any, dataset: Any, batch_size: int = 4096) -> torch.Tensor:
    """The model's outputs for every sequence of a ``SequenceDataset`` (lengths passed on)."""
    model.eval()
    outputs = []
    for start in range(0, len(dataset), batch_size):
        batch = dataset[torch.arange(start, min(start + batch_size, len(dataset)))]
        x = batch[0].to(model.device)
        lengths = batch[2].to(model.device) if len(batch) > 2 else None
        outputs.append((model(x, lengths) if lengths is not None else model(x)).cpu())
    return torch.cat(outputs)


def _task_predictions(model: Any, dm: Any) -> tuple[list[str], list[list[Any]]] | None:
    """Header and rows of ``predictions.csv`` for the tasks on whole sequences."""
    dm.setup("test")
    test = dm.datasets["test"]
    out = predict(model, test, getattr(dm, "eval_batch_size", 4096))
    target = test.targets.cpu()
    if model.task == "regress":
        rows = [[i, t, p] for i, (t, p) in enumerate(zip(target[:, 0].tolist(), out[:, 0].tolist(),
                                                         strict=True))]  # fmt: skip
        return ["sequence", "target", "prediction"], rows
    if model.task == "classify":
        names = dm.class_names
        prob = torch.softmax(out, -1)
        pred = prob.argmax(-1)
        if test.lengths is not None:
            lengths = test.lengths.cpu().tolist()
        else:
            lengths = [test.inputs.shape[1]] * len(target)
        rows = [
            [i, lengths[i], names[int(target[i])], names[int(pred[i])],
             round(float(prob[i, pred[i]]), 6)]
            for i in range(len(target))
        ]  # fmt: skip
        return ["sequence", "length", "label", "prediction", "probability"], rows
    if model.task in ("copy", "selective_copy"):
        pred = out.argmax(-1)  # [N, L]
        rows = []
        for i, j in torch.nonzero((target >= 0) & (target < model.blank)).tolist():
            rows.append([i, j, int(target[i, j]), int(pred[i, j])])
        return ["sequence", "step", "target", "prediction"], rows
    return None


def write_predictions(model: Any, dm: Any, path: Path) -> None:
    """``predictions.csv``: a forecast's test targets and predictions on the true time axis
    in original units; per sequence (or per recalled step) for the other tasks."""
    import csv
    import io

    from rnnlab.rundir import write_atomic

    if model.task != "forecast":
        table = _task_predictions(model, dm)
        if table is not None:
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(table[0])
            writer.writerows(table[1])
            write_atomic(path, text.getvalue())
        return
    from rnnlab.report.forecast import write_forecast_predictions

    write_forecast_predictions(model, dm, path)
