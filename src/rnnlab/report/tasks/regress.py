"""The report of ``task=regress`` (the adding problem): MSE, RMSE, MAE and R² against the
data's memoryless baseline, ``solved`` where the data names a threshold, one prediction per
test sequence, and actual against predicted."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from rnnlab.report.tasks.sequence import SequenceReport


class RegressReport(SequenceReport):
    """``task=regress``'s report."""

    loss_label = "MSE loss"

    def summary(self, model: Any, tested: dict[str, float], dm: Any) -> dict[str, Any]:
        """The test numbers, the data's baselines (adding: predicting 1, MSE about 1/6) and,
        where the data names a threshold (``solved_mse``), ``solved``."""
        summary = {
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

    def prediction_rows(self, model, dm, output: Tensor, dataset) -> tuple[list[str], list]:
        targets = dataset.targets.cpu()[:, 0].tolist()
        rows = [[i, t, p] for i, (t, p) in enumerate(zip(targets, output[:, 0].tolist(),
                                                         strict=True))]  # fmt: skip
        return ["sequence", "target", "prediction"], rows

    def task_figure(self, model, dm, output: Tensor, dataset, title: str) -> tuple[str, Any]:
        from rnnlab.report import plots

        fig = plots.new_figure("scatter")
        plots.actual_vs_predicted(fig.subplots(), dataset.targets.cpu(), output,
                                  title=f"{title}, test split")  # fmt: skip
        return "scatter", fig

    def example_note(self, dm: Any, target: Tensor) -> str:
        return f" (target {float(target[0]):.3f})"
