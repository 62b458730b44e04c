"""The report of ``task=selective_copy``: accuracy on the recalled symbols (cross-entropy
beside it) against the memoryless model (about 1/n_symbols); files and figures as for
``task=copy``."""

from __future__ import annotations

from typing import Any

from rnnlab.report.task import TaskReport
from rnnlab.report.tasks.copy import CopyReport


class SelectiveCopyReport(CopyReport):
    """``task=selective_copy``'s report."""

    validation = TaskReport.validation  # val_accuracy, as logged

    def summary(self, model: Any, tested: dict[str, float], dm: Any) -> dict[str, Any]:
        memoryless = dm.memoryless_scores()
        return {
            "metric": "test_accuracy",
            "metric_goal": "max",
            "test_accuracy": tested["test/accuracy"],
            "test_ce": tested["test/loss"],
            "memoryless_ce": memoryless["ce"],
            "baselines": {"memoryless": memoryless["accuracy"]},
            "table": ["test_ce"],
        }
