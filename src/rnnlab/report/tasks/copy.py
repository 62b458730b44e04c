"""The report of ``task=copy`` (copy memory): cross-entropy over every step (Arjovsky et al.'s
measure) and accuracy on the recalled symbols, against the memoryless model on the same test
set; the recalled symbol per scored step; a picture of a few test sequences' recall."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnlab.report.tasks.sequence import SequenceReport

N_EXAMPLES = 4  # test sequences in the recall figure


class CopyReport(SequenceReport):
    """``task=copy``'s report."""

    def summary(self, model: Any, tested: dict[str, float], dm: Any) -> dict[str, Any]:
        """``memoryless_ce_formula`` is n_recall·ln(n_symbols)/(T + 2·n_recall), what the
        memoryless cross-entropy tends to."""
        memoryless = dm.memoryless_scores()
        return {
            "metric": "test_ce",
            "metric_goal": "min",
            "test_ce": tested["test/loss"],
            "test_accuracy": tested["test/accuracy"],
            "memoryless_accuracy": memoryless["accuracy"],
            "memoryless_ce_formula": dm.formula_ce(),
            "baselines": {"memoryless": memoryless["ce"]},
            "table": ["test_accuracy"],
        }

    def validation(self, model, summary, scores, best_loss, dm) -> dict:
        """``val_ce`` is the validation loss itself (the cross-entropy over every step)."""
        return {"val_ce": scores.get("val/loss"), "best_val_loss": best_loss}

    @staticmethod
    def recall_steps(model: Any, target: Tensor) -> Tensor:
        """Which steps hold a symbol to recall (not blank, not unscored): ``[N, L]``."""
        return (target >= 0) & (target < model.blank)

    def prediction_rows(self, model, dm, output: Tensor, dataset) -> tuple[list[str], list]:
        target = dataset.targets.cpu()
        pred = output.argmax(-1)  # [N, L]
        rows = [[i, j, int(target[i, j]), int(pred[i, j])]
                for i, j in torch.nonzero(self.recall_steps(model, target)).tolist()]  # fmt: skip
        return ["sequence", "step", "target", "prediction"], rows

    def task_figure(self, model, dm, output: Tensor, dataset, title: str) -> tuple[str, Any]:
        from rnnlab.report import plots

        target = dataset.targets.cpu()
        k = min(N_EXAMPLES, len(dataset))
        recall = self.recall_steps(model, target[:k])
        n_recall = int(recall[0].sum())
        fig = plots.new_figure("recall")
        plots.recall_examples(
            fig,
            dataset.data.inputs[:k].cpu(),
            target[:k][recall].view(k, n_recall),
            output[:k].argmax(-1)[recall].view(k, n_recall),
            dm.n_symbols,
            title=f"{title}: recall of the first {k} test sequences",
        )
        return "recall", fig
