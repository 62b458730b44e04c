"""The report of ``task=classify``: accuracy and macro-F1 against the majority class and the
1-nearest-neighbour classifier on the same test sequences, the predicted class and its
probability per test sequence, and the confusion matrix."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnlab.report.tasks.sequence import SequenceReport


class ClassifyReport(SequenceReport):
    """``task=classify``'s report."""

    def summary(self, model: Any, tested: dict[str, float], dm: Any) -> dict[str, Any]:
        return {
            "metric": "test_accuracy",
            "metric_goal": "max",
            "test_accuracy": tested["test/accuracy"],
            "test_f1_macro": tested["test/f1_macro"],
            "n_classes": dm.n_classes,
            "n_test": len(dm.sets["test"]),
            "baselines": dm.baselines(),
            "table": ["test_f1_macro"],
        }

    def prediction_rows(self, model, dm, output: Tensor, dataset) -> tuple[list[str], list]:
        names = dm.class_names
        target = dataset.targets.cpu()
        prob = torch.softmax(output, -1)
        pred = prob.argmax(-1)
        if dataset.lengths is not None:
            lengths = dataset.lengths.cpu().tolist()
        else:
            lengths = [dataset.inputs.shape[1]] * len(target)
        rows = [
            [i, lengths[i], names[int(target[i])], names[int(pred[i])],
             round(float(prob[i, pred[i]]), 6)]
            for i in range(len(target))
        ]  # fmt: skip
        return ["sequence", "length", "label", "prediction", "probability"], rows

    def task_figure(self, model, dm, output: Tensor, dataset, title: str) -> tuple[str, Any]:
        from rnnlab.report import plots

        classes = dm.n_classes
        pairs = dataset.targets.cpu() * classes + output.argmax(-1)
        counts = torch.bincount(pairs, minlength=classes * classes).view(classes, classes)
        fig = plots.new_figure("confusion")
        plots.confusion_matrix(fig.subplots(), counts, dm.class_names, title=title)
        return "confusion", fig

    def example_note(self, dm: Any, target: Tensor) -> str:
        return f" (label {dm.class_names[int(target)]})"
