"""What the reports of the tasks on whole sequences share (the memory tests, classification).

Their figures are the loss per epoch, the task's own picture (``task_figure``) and every
hidden unit over one test sequence; their ``predictions.csv`` has one row per sequence or
per scored step (``prediction_rows``). A task's report subclasses ``SequenceReport``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torch import Tensor

from rnnlab import rundir
from rnnlab.inference import sequence_outputs
from rnnlab.report.figures import (
    example_index,
    hidden_states_figure,
    loss_figure,
    model_title,
)
from rnnlab.report.task import TaskReport


class SequenceReport(TaskReport):
    """A report whose test data is a set of whole sequences (``dm.datasets["test"]``)."""

    loss_label = "cross-entropy loss"  # the y axis of the loss curves

    def prediction_rows(
        self, model: Any, dm: Any, output: Tensor, dataset: Any
    ) -> tuple[list[str], list[list[Any]]]:
        """Header and rows of ``predictions.csv`` from the model's raw test outputs."""
        raise NotImplementedError

    def task_figure(
        self, model: Any, dm: Any, output: Tensor, dataset: Any, title: str
    ) -> tuple[str, Any]:
        """``(name, figure)`` of the task's own picture of the test outputs."""
        raise NotImplementedError

    def example_note(self, dm: Any, target: Tensor) -> str:
        """What the hidden-state figure's title says about the example's target."""
        return ""

    def _test(self, model: Any, dm: Any) -> tuple[Any, Tensor]:
        dm.setup("test")
        dataset = dm.datasets["test"]
        return dataset, sequence_outputs(model, dataset, getattr(dm, "eval_batch_size", 4096))

    def write(self, model: Any, dm: Any, out_dir: Path) -> dict[str, Any]:
        dataset, output = self._test(model, dm)
        header, rows = self.prediction_rows(model, dm, output, dataset)
        rundir.write_csv(Path(out_dir) / rundir.PREDICTIONS, header, rows)
        return {}

    def figures(
        self,
        model: Any,
        dm: Any,
        history: Iterable[dict[str, Any]] | None = None,
        *,
        window: int = 0,
        max_panels: int = 8,
    ) -> dict[str, Any]:
        dataset, output = self._test(model, dm)
        example = example_index(window, len(dataset), "sequences")
        title = model_title(model)
        figures: dict[str, Any] = {}
        loss = loss_figure(title, history, ylabel=self.loss_label)
        if loss is not None:
            figures["loss"] = loss
        name, figure = self.task_figure(model, dm, output, dataset, title)
        figures[name] = figure
        lengths = dataset.lengths
        length = int(lengths[example]) if lengths is not None else dataset.inputs.shape[1]
        x = dataset.inputs[example, :length]  # [L, F], the padding left out
        note = self.example_note(dm, dataset.targets.cpu()[example])
        figures["hidden_states"] = hidden_states_figure(
            model,
            x,
            max_panels=max_panels,
            title=f"{title}: states over test sequence {example}{note}",
        )
        return figures
