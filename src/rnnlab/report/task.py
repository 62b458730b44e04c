"""What every task's report gives a run, and the keys that make runs of any task comparable.

A task is one LightningModule (``rnnlab.models.tasks``) and one ``TaskReport`` subclass
(``rnnlab.report.tasks``), both named by the task's config (``conf/task/<task>.yaml``:
``model._target_`` and ``report._target_``). ``train.py``, ``eval.py``, ``predict.py`` and the
sweep comparison call only the methods below and read only ``GENERIC_KEYS`` of
``metrics.json``:

* ``task``: the task's name (``model.task``);
* ``metric``: the key of the number that ranks runs (``test_mse``, ``test_accuracy``...);
* ``metric_goal``: ``min`` or ``max``;
* ``baselines``: ``{name: that number for the baseline}`` on the same test data;
* ``table``: further keys a comparison table shows for this task, in order.

Optional generic keys: ``metric_floor`` (the best value the metric can reach on this data,
e.g. a forecast's noise floor) and ``baseline_columns`` (``{baseline: {table key: value}}``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

GENERIC_KEYS = ("task", "metric", "metric_goal", "baselines", "table")
# Closing keys of the console summary, after the task's own.
RUN_KEYS = ("epochs_trained", "best_epoch", "test_ckpt", "fit_seconds", "n_params")


class TaskReport:
    """The report of one task: its block of ``metrics.json``, its files, its figures.

    Subclasses define ``summary``; the other methods have defaults that suit a task whose
    validation metric is logged as ``val/<name>`` and that leaves no files or figures.
    """

    def summary(self, model: Any, tested: dict[str, float], dm: Any) -> dict[str, Any]:
        """The test block of ``metrics.json`` from Lightning's test values (``test/...``):
        ``metric``, ``metric_goal``, ``baselines``, ``table`` and the task's numbers."""
        raise NotImplementedError

    def validation(
        self,
        model: Any,
        summary: dict[str, Any],
        scores: dict[str, float],
        best_loss: float | None,
        dm: Any,
    ) -> dict[str, Any]:
        """The validation numbers beside the test block, from ``scores`` (the tested weights'
        ``val/...`` over the validation split): ``val_<metric>``, and ``best_val_loss``, the
        lowest validation loss of training (what chose ``test_ckpt=best``)."""
        name = summary["metric"].removeprefix("test_")
        return {f"val_{name}": scores.get(f"val/{name}"), "best_val_loss": best_loss}

    def write(self, model: Any, dm: Any, out_dir: Path) -> dict[str, Any]:
        """Write the task's files (``predictions.csv``...) into ``out_dir``; return what
        they add to ``metrics.json``."""
        return {}

    def predict(
        self,
        model: Any,
        dm: Any,
        out_dir: Path,
        *,
        horizon: int | None = None,
        trained: Any = None,
    ) -> list[Path]:
        """``python predict.py``: write the task's predictions on the data of ``dm`` (built
        from the run's data config and the user's overrides, not loaded yet) into ``out_dir``
        and return the files written. Data that does not match the training set-up raises a
        one-line ``ValueError``; ``horizon`` is the steps to forecast where the task has
        steps (None: the model's own); ``trained`` is the datamodule of the run's own data
        config (not loaded), for a task whose scaling lives in the data, not in the model.
        A task without predictions on new data keeps this default, which raises
        ``NotImplementedError``."""
        raise NotImplementedError

    def figures(
        self,
        model: Any,
        dm: Any,
        history: Iterable[dict[str, Any]] | None = None,
        *,
        window: int = 0,
        max_panels: int = 8,
    ) -> dict[str, Any]:
        """The run's figures, ``{name: matplotlib Figure}`` (``history``: per-epoch rows
        for the loss curves; ``window``: the test example whose hidden states are drawn)."""
        return {}

    def console_keys(self, metrics: dict[str, Any]) -> list[str]:
        """The keys of ``metrics.json`` the console summary shows, in order."""
        name = str(metrics["metric"]).removeprefix("test_")
        baselines = [f"baselines.{b}" for b in metrics.get("baselines") or {}]
        return [metrics["metric"], *baselines, *metrics.get("table", []), f"val_{name}",
                "best_val_loss", *RUN_KEYS]  # fmt: skip


def summarize_test(report: TaskReport, model: Any, tested: dict[str, float], dm: Any) -> dict:
    """``report.summary`` with the task's name, checked to carry every generic key."""
    block = {"task": model.task, **report.summary(model, tested, dm)}
    missing = [key for key in GENERIC_KEYS if key not in block]
    if missing:
        raise ValueError(
            f"{type(report).__name__}.summary() lacks the generic keys {', '.join(missing)} "
            "(rnnlab.report.task)"
        )
    return block


def console_rows(report: TaskReport, metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(key, value)`` rows of the console summary (``baselines.<name>`` reads the
    baselines; keys the run lacks are left out)."""
    rows = []
    for key in dict.fromkeys(report.console_keys(metrics)):
        if key.startswith("baselines."):
            value = (metrics.get("baselines") or {}).get(key.removeprefix("baselines."))
        elif key in metrics:
            value = metrics[key]
        else:
            continue
        rows.append((key, value))
    return rows
