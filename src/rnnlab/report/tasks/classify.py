"""The report of ``task=classify``: accuracy and macro-F1 against the majority class and the
1-nearest-neighbour classifier on the same test sequences, the predicted class and its
probability per test sequence, and the confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnlab import rundir
from rnnlab.inference import class_probabilities
from rnnlab.report.tasks.sequence import SequenceReport

PROBABILITIES = "probabilities.csv"  # python predict.py's file for a classifier


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

    def predict(
        self,
        model: Any,
        dm: Any,
        out_dir: Path,
        *,
        horizon: int | None = None,
        trained: Any = None,
    ) -> list[Path]:
        """``probabilities.csv``: every class's probability per sequence of a new long CSV
        (``data.path``, the training file's channels, a label column optional), scaled
        with the run's own training statistics; without a new file, the run's test split."""
        from rnnlab.data.labelled import padded
        from rnnlab.data.sequences import SequenceDataset, SequenceSet

        trained = dm if trained is None else trained
        trained.load()  # the run's own split: its training statistics, as when it trained
        names = trained.class_names
        if len(names) != model.num_classes:
            raise ValueError(
                f"the run's data has {len(names)} classes, the model {model.num_classes}: "
                "the checkpoint was trained on other data"
            )
        new = getattr(dm, "path", None)
        if new is None or new == getattr(trained, "path", None):
            trained.setup("test")
            dataset, ids, labels = trained.datasets["test"], None, None
        else:
            ids, sequences, labels = _read_new(trained, str(new))
            scaled = [
                (trained.transform(x) - trained.channel_loc) / trained.channel_scale
                for x in sequences
            ]
            x, lengths = padded(scaled)  # [N, L, F]
            whole = bool((lengths == x.shape[1]).all())
            dataset = SequenceDataset(
                SequenceSet(x, torch.zeros(len(x), dtype=torch.long), None if whole else lengths)
            )
        prob = class_probabilities(model, dataset).double()  # [N, classes]
        if ids is None:  # the test split: its sequence numbers and labels
            ids = list(range(len(prob)))
            labels = [names[int(t)] for t in dataset.targets.cpu()]
        pred = prob.argmax(-1)
        header = ["sequence", *(["label"] if labels else []), "prediction", "probability",
                  *(f"p_{n}" for n in names)]  # fmt: skip
        rows = (
            [ids[i], *([labels[i]] if labels else []), names[int(pred[i])],
             round(float(prob[i, pred[i]]), 6), *(round(float(v), 6) for v in prob[i])]
            for i in range(len(prob))
        )  # fmt: skip
        path = Path(out_dir) / PROBABILITIES
        rundir.write_csv(path, header, rows)
        return [path]

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


def _read_new(trained: Any, path: str) -> tuple[list[str], list[Any], list[str] | None]:
    """``(ids, [L_i, F] arrays, labels or None)`` of the sequences in the long CSV ``path``,
    which must hold the training file's channels and no other column (one-line errors)."""
    import pandas as pd

    from rnnlab.data.readers import read_long_csv, resolve_path

    channels = list(getattr(trained, "channel_names", None) or [])
    meta = getattr(trained, "columns", None)
    if not channels or not isinstance(meta, dict):
        raise ValueError(
            "data.path: only a run on a long CSV of sequences (data=sequences, data=digits) "
            "predicts on a new file; without data.path the run's test split is predicted"
        )
    file = resolve_path(path)
    if not file.is_file():
        raise ValueError(f"data.path={path!r}: no such file")
    header = [str(c) for c in pd.read_csv(file, nrows=0).columns]
    id_column, label_column = meta["id_column"], meta["label_column"]
    known = {id_column, meta["step_column"], label_column, trained.split_column, *channels}
    extra = [c for c in header if c not in known]
    if extra:
        raise ValueError(
            f"{file.name} has column {extra[0]!r}, which the model was not trained on; "
            f"its channels: {', '.join(channels)}"
        )
    labelled = label_column in header
    # Without labels, each sequence's id stands in for its label (read_long_csv wants one).
    parts, _ = read_long_csv(
        file, id_column, meta["step_column"], label_column if labelled else id_column,
        channels=channels, split_column=None, setting="data.path",
    )  # fmt: skip
    part = parts[None]
    # the sequences come in the order of their first row, as their ids do here
    column = pd.read_csv(file, usecols=[id_column], dtype=str, keep_default_na=False)
    ids = list(pd.unique(column[id_column].str.strip()))
    return ids, part.sequences, (part.labels if labelled else None)
