"""The four pictures of a run, made once testing ends, saved as PNG and shown in TensorBoard.

    <run dir>/plots/predictions.png     test predictions on the true time axis, splits shaded
    <run dir>/plots/scatter.png         actual vs predicted, identity line, MSE and R²
    <run dir>/plots/loss.png            training and validation loss per epoch
    <run dir>/plots/hidden_states.png   every hidden unit over one test window (LSTM: h and c)
    <run dir>/plots/attention.png       with model.head=attention: the weights over one window

Tasks on whole sequences (``task=regress|classify|copy|selective_copy``) draw the loss,
their own picture (``scatter``; ``confusion``: the test confusion matrix; ``recall``: input,
truth and recalled symbols of a few test sequences) and ``hidden_states`` over one test
sequence (``sequence_task_figures``).

The ``RunFigures`` callback (``rnnlab.run.callbacks``, ``callbacks.figures`` in the config)
calls ``make_run_figures`` once testing ends, so training is never slowed down, and
matplotlib is imported only then.

``python -m rnnlab.report.figures RUN_DIR OUT_DIR`` copies a run's pictures and the unrolled-RNN
drawing into ``OUT_DIR`` (``make figures`` uses it for the README pictures).
"""

from __future__ import annotations

import csv
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["FIGURE_NAMES", "log_figures", "make_run_figures", "save_figures"]

FIGURE_NAMES = ("predictions", "scatter", "loss", "hidden_states")


def _title(model: Any) -> str:
    backbone = getattr(model, "backbone", model)
    name = type(backbone).__name__
    parts = []
    if hasattr(backbone, "hidden_size"):
        parts.append(f"hidden {backbone.hidden_size}")
    layers = getattr(backbone, "num_layers", 1)
    if layers > 1:
        parts.append(f"{layers} layers")
    rnn = getattr(backbone, "rnn", backbone)
    if getattr(backbone, "directions", 1) == 2 or getattr(rnn, "bidirectional", False):
        parts.append("bidirectional")
    return f"{name} ({', '.join(parts)})" if parts else name


@torch.no_grad()
def _predict(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        chunks = [model(x.to(device)).cpu() for x in inputs.split(max(batch_size, 1))]
    finally:
        model.train(was_training)
    return torch.cat(chunks)  # [N, 1]


def history_curves(rows: Iterable[dict[str, Any]]) -> dict[str, tuple[list, list]]:
    """``MetricsHistory`` or ``history.csv`` rows -> curves for ``plots.loss_curves``."""
    curves: dict[str, tuple[list, list]] = {}
    for key, label in (("train/loss", "training"), ("val/loss", "validation")):
        points = [
            (float(r["epoch"]), float(r[key]))
            for r in rows
            if r.get(key) not in (None, "") and r.get("epoch") not in (None, "")
        ]
        if points:
            curves[label] = ([p[0] for p in points], [p[1] for p in points])
    return curves


def read_history(path: str | Path) -> list[dict[str, str]]:
    """Rows of a run's ``history.csv``."""
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def make_run_figures(
    model: torch.nn.Module,
    datamodule: Any,
    history: Iterable[dict[str, Any]] | None = None,
    *,
    window: int = 0,
    max_panels: int = 8,
) -> dict[str, Any]:
    """Build the run's figures (``name -> Figure``) from a trained model and its datamodule.

    ``datamodule`` is a set-up ``WindowDataModule``; ``window`` picks the test window whose
    hidden states are drawn (negative counts from the end). Without ``history`` rows the
    loss figure is left out.
    """
    if getattr(model, "task", "forecast") != "forecast":
        return sequence_task_figures(
            model, datamodule, history, example=window, max_panels=max_panels
        )
    from rnnlab.models.heads import AttentionHead, attention_weights
    from rnnlab.report import plots
    from rnnlab.report.hidden import hidden_states, unit_labels

    datamodule.setup("test")
    test = datamodule.datasets["test"]
    n_test = len(test)
    if not -n_test <= window < n_test:
        raise ValueError(f"figures window={window}: the test split has {n_test} windows")
    from rnnlab.report.forecast import predict_test

    title = _title(model)
    # One step ahead (a direct model's first step), per target, in the series' units; the
    # central 80 % interval of a probabilistic model as a band.
    forecasts = predict_test(model, datamodule)
    idx = test.split.target_index
    observed = datamodule.target_series()  # [N, T]
    target, pred = observed[idx], forecasts.point[:, 0]  # [n_test, T]
    time = datamodule.time.cpu()
    n = len(time)
    regions = {
        name: (float(time[s.start]), float(time[min(s.stop, n - 1)]))
        for name, s in datamodule.splits.items()
    }
    clean = getattr(datamodule, "clean", None)
    dates = getattr(datamodule, "time_is_date", False)

    figures: dict[str, Any] = {}
    names = datamodule.target_names
    for t, name in enumerate(names):
        key = "predictions" if t == 0 else f"predictions_{name}"
        figures[key] = plots.new_figure("predictions")
        plots.predictions_over_time(
            figures[key],
            time,
            observed[:, t],
            regions,
            time[idx],
            target[:, t],
            pred[:, t],
            clean=clean,
            bands={c: (lo[:, 0, t], hi[:, 0, t]) for c, (lo, hi) in forecasts.bands.items()},
            dates=dates,
            title=f"{title}: predictions vs actual values"
            + (f" of {name}" if len(names) > 1 else ""),
        )
    figures["scatter"] = plots.new_figure("scatter")
    plots.actual_vs_predicted(
        figures["scatter"].subplots(), target[:, 0], pred[:, 0], title=f"{title}, test split"
    )
    curves = history_curves(history) if history is not None else {}
    if curves:
        figures["loss"] = plots.new_figure("loss")
        plots.loss_curves(
            figures["loss"].subplots(),
            curves,
            title=f"{title}: loss per epoch",
            floor=datamodule.noise_floor_mse,
        )

    backbone = getattr(model, "backbone", model)
    x = test.inputs[window]  # [L, F]
    # What the backbone reads: the window after the model's own normalisation, if any.
    encode = getattr(getattr(model, "normalizer", None), "encode", None)
    seen = encode(x[None].to(model.device))[0][0].cpu() if encode is not None else x
    states = hidden_states(backbone, seen)
    units = next(iter(states.values())).shape[1]
    start = test.split.start + (window % n_test)
    history = observed[start : start + test.seq_len, 0]  # the first target over the window
    figures["hidden_states"] = plots.new_figure("hidden_states")
    plots.hidden_state_evolution(
        figures["hidden_states"],
        states,
        inputs=history,
        target=float(target[window, 0]),
        unit_labels=unit_labels(backbone, units),
        max_panels=max_panels,
        title=f"{title}: states over test window {window % n_test} "
        f"(starts at t = {float(time[start]):.1f})",
    )
    if isinstance(getattr(model, "head", None), AttentionHead):
        figures["attention"] = plots.new_figure("attention")
        with torch.no_grad():
            weights = attention_weights(model, seen[None].to(model.device))[0]
        plots.attention_window(
            figures["attention"],
            time[start : start + test.seq_len + 1],
            history,
            float(target[window, 0]),
            float(pred[window, 0]),
            weights,
            title=f"{title}: attention over test window {window % n_test}",
        )
    return figures


def sequence_task_figures(
    model: torch.nn.Module,
    datamodule: Any,
    history: Iterable[dict[str, Any]] | None = None,
    *,
    example: int = 0,
    max_panels: int = 8,
    n_examples: int = 4,
) -> dict[str, Any]:
    """The figures of the tasks on whole sequences (``regress``, ``classify``, ``copy``,
    ``selective_copy``): the loss per epoch; the task's own picture (actual vs predicted;
    the confusion matrix; ``n_examples`` test sequences with their recall); and every hidden
    unit over test sequence ``example``, its inputs above."""
    from rnnlab.report import plots
    from rnnlab.report.hidden import hidden_states, unit_labels
    from rnnlab.report.summary import predict

    datamodule.setup("test")
    test = datamodule.datasets["test"]
    n_test = len(test)
    if not -n_test <= example < n_test:
        raise ValueError(f"figures window={example}: the test split has {n_test} sequences")
    example %= n_test
    title = _title(model)
    task = model.task
    figures: dict[str, Any] = {}
    curves = history_curves(history) if history is not None else {}
    if curves:
        figures["loss"] = plots.new_figure("loss")
        ylabel = "MSE loss" if task == "regress" else "cross-entropy loss"
        plots.loss_curves(figures["loss"].subplots(), curves, title=f"{title}: loss per epoch",
                          ylabel=ylabel)  # fmt: skip
    output = predict(model, test, getattr(datamodule, "eval_batch_size", 4096))
    target = test.targets.cpu()
    if task == "regress":
        figures["scatter"] = plots.new_figure("scatter")
        plots.actual_vs_predicted(figures["scatter"].subplots(), target, output,
                                  title=f"{title}, test split")  # fmt: skip
    elif task == "classify":
        classes = datamodule.n_classes
        pairs = target * classes + output.argmax(-1)
        counts = torch.bincount(pairs, minlength=classes * classes).view(classes, classes)
        figures["confusion"] = plots.new_figure("confusion")
        plots.confusion_matrix(figures["confusion"].subplots(), counts, datamodule.class_names,
                               title=title)  # fmt: skip
    else:  # the copy tasks: the steps whose target is a symbol
        k = min(n_examples, n_test)
        recall = (target[:k] >= 0) & (target[:k] < model.blank)
        n_recall = int(recall[0].sum())
        figures["recall"] = plots.new_figure("recall")
        plots.recall_examples(
            figures["recall"],
            test.data.inputs[:k].cpu(),
            target[:k][recall].view(k, n_recall),
            output[:k].argmax(-1)[recall].view(k, n_recall),
            datamodule.n_symbols,
            title=f"{title}: recall of the first {k} test sequences",
        )
    backbone = getattr(model, "backbone", model)
    length = int(test.lengths[example]) if test.lengths is not None else test.inputs.shape[1]
    x = test.inputs[example, :length]  # [L, F], the padding left out
    states = hidden_states(backbone, x)
    units = next(iter(states.values())).shape[1]
    figures["hidden_states"] = plots.new_figure("hidden_states")
    about = ""
    if task == "classify":
        about = f" (label {datamodule.class_names[int(target[example])]})"
    elif task == "regress":
        about = f" (target {float(target[example, 0]):.3f})"
    plots.hidden_state_evolution(
        figures["hidden_states"],
        states,
        inputs=x.cpu(),
        unit_labels=unit_labels(backbone, units),
        max_panels=max_panels,
        title=f"{title}: states over test sequence {example}{about}",
    )
    return figures


def save_figures(
    figures: dict[str, Any], output_dir: str | Path, dpi: int = 100
) -> dict[str, Path]:
    """Write every figure as ``<output_dir>/<name>.png``; returns the paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fig in figures.items():
        paths[name] = out / f"{name}.png"
        fig.savefig(paths[name], dpi=dpi)
    return paths


def log_figures(loggers: Sequence[Any], figures: dict[str, Any], step: int, dpi: int = 100) -> int:
    """Add every figure as an image to each TensorBoard logger; returns how many loggers took them.

    Figures are rendered here with Agg (the same pixels as the PNGs) and handed over with
    ``add_image``, so TensorBoard's own matplotlib glue (which imports pyplot) is not needed.
    """
    import numpy as np
    from lightning.pytorch.loggers import TensorBoardLogger
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    boards = [lg for lg in loggers if isinstance(lg, TensorBoardLogger)]
    if not boards:
        return 0
    images = {}
    for name, fig in figures.items():
        fig.set_dpi(dpi)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        images[name] = np.asarray(canvas.buffer_rgba())[..., :3].copy()  # [H, W, 3] uint8
    for board in boards:
        for name, image in images.items():
            board.experiment.add_image(f"figures/{name}", image, step, dataformats="HWC")
        board.experiment.flush()
    return len(boards)


def export_readme_pictures(run_dir: str | Path, out_dir: str | Path, dpi: int = 100) -> list[Path]:
    """Copy a finished run's figures into ``out_dir`` and draw the unrolled RNN there."""
    from rnnlab.report.diagram import unrolled_rnn

    plots_dir = Path(run_dir) / "plots"
    missing = [n for n in FIGURE_NAMES if not (plots_dir / f"{n}.png").is_file()]
    if missing:
        raise FileNotFoundError(
            f"{plots_dir} lacks {', '.join(missing)}.png: is it a finished run?"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [
        Path(shutil.copyfile(plots_dir / f"{n}.png", out / f"{n}.png")) for n in FIGURE_NAMES
    ]
    unrolled_rnn().savefig(out / "unrolled_rnn.png", dpi=dpi)
    return [*written, out / "unrolled_rnn.png"]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m rnnlab.report.figures RUN_DIR OUT_DIR``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        raise SystemExit("usage: python -m rnnlab.report.figures RUN_DIR OUT_DIR")
    for path in export_readme_pictures(*args):
        print(path)


if __name__ == "__main__":
    main()
