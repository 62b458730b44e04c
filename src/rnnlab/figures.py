"""The four pictures of a run, made once testing ends, saved as PNG and shown in TensorBoard.

    <run dir>/plots/predictions.png     test predictions on the true time axis, splits shaded
    <run dir>/plots/scatter.png         actual vs predicted, identity line, MSE and R²
    <run dir>/plots/loss.png            training and validation loss per epoch
    <run dir>/plots/hidden_states.png   every hidden unit over one test window (LSTM: h and c)

``RunFigures`` is in ``conf/callbacks/default.yaml`` as ``figures``; ``callbacks.figures=null``
turns it off. Plotting happens in ``on_test_end`` only, so training is never slowed down,
and matplotlib is imported only then. ``make_run_figures`` is the same without Lightning.

``python -m rnnlab.figures RUN_DIR OUT_DIR`` copies a run's pictures and the unrolled-RNN
drawing into ``OUT_DIR`` (``make figures`` uses it for the README pictures).
"""

from __future__ import annotations

import csv
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn

__all__ = ["FIGURE_NAMES", "RunFigures", "log_figures", "make_run_figures", "save_figures"]

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
    from rnnlab import plots
    from rnnlab.hidden import hidden_states, unit_labels

    datamodule.setup("test")
    test = datamodule.datasets["test"]
    n_test = len(test)
    if not -n_test <= window < n_test:
        raise ValueError(f"figures window={window}: the test split has {n_test} windows")
    to_orig = datamodule.to_original_units
    title = _title(model)

    pred = to_orig(_predict(model, test.inputs, getattr(datamodule, "eval_batch_size", 4096)))
    target = to_orig(test.targets.cpu())
    idx = test.split.target_index
    time = datamodule.time.cpu()
    n = len(time)
    regions = {
        name: (float(time[s.start]), float(time[min(s.stop, n - 1)]))
        for name, s in datamodule.splits.items()
    }
    clean = getattr(datamodule, "clean", None)

    figures: dict[str, Any] = {}
    figures["predictions"] = plots.predictions_over_time(
        time,
        to_orig(datamodule.series.cpu()),
        regions,
        time[idx],
        target[:, 0],
        pred[:, 0],
        clean=clean,
        title=f"{title}: predictions vs actual values",
    )
    figures["scatter"] = plots.actual_vs_predicted(target, pred, title=f"{title}, test split")
    curves = history_curves(history) if history is not None else {}
    if curves:
        figures["loss"] = plots.loss_curves(
            curves, title=f"{title}: loss per epoch", floor=datamodule.noise_floor_mse
        )

    backbone = getattr(model, "backbone", model)
    x = test.inputs[window]  # [L, 1]
    states = hidden_states(backbone, x)
    units = next(iter(states.values())).shape[1]
    t0 = float(time[test.split.start + (window % n_test)])
    figures["hidden_states"] = plots.hidden_state_evolution(
        states,
        inputs=to_orig(x[:, 0].cpu()),
        target=float(target[window, 0]),
        unit_labels=unit_labels(backbone, units),
        max_panels=max_panels,
        title=f"{title}: states over test window {window % n_test} (starts at t = {t0:.1f})",
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


class RunFigures(L.Callback):
    """Makes the run's figures once testing ends: PNGs in ``output_dir``, images in TensorBoard.

    Args:
        output_dir: where the PNGs go (``${paths.output_dir}/plots`` in the config).
        dpi: resolution of the PNGs and of the TensorBoard images.
        window: which test window the hidden-state figure follows.
        max_panels: hidden sizes up to this get one panel per unit, larger ones a heat-map.
        history_path: ``history.csv`` to read the loss curves from when no ``MetricsHistory``
            callback runs alongside.

    Works with any logger set-up: without a TensorBoard logger only the PNGs are written.
    """

    def __init__(
        self,
        output_dir: str,
        dpi: int = 100,
        window: int = 0,
        max_panels: int = 8,
        history_path: str | None = None,
    ) -> None:
        if dpi <= 0:
            raise ValueError(f"callbacks.figures.dpi={dpi}: use a positive number")
        if max_panels < 0:
            raise ValueError(f"callbacks.figures.max_panels={max_panels}: use 0 or more")
        self.output_dir = output_dir
        self.dpi = dpi
        self.window = window
        self.max_panels = max_panels
        self.history_path = history_path
        self.paths: dict[str, Path] = {}

    def _history(self, trainer: L.Trainer) -> list[dict[str, Any]] | None:
        from rnnlab.callbacks import MetricsHistory

        for cb in trainer.callbacks:
            if isinstance(cb, MetricsHistory) and cb.rows:
                return cb.rows
        if self.history_path and Path(self.history_path).is_file():
            return read_history(self.history_path)
        return None

    @rank_zero_only
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        if dm is None or not hasattr(dm, "splits"):
            rank_zero_warn("RunFigures: no WindowDataModule attached to the trainer; no figures")
            return
        history = self._history(trainer)
        if history is None:
            rank_zero_warn("RunFigures: no MetricsHistory rows or history.csv; no loss figure")
        figures = make_run_figures(
            pl_module, dm, history, window=self.window, max_panels=self.max_panels
        )
        self.paths = save_figures(figures, self.output_dir, self.dpi)
        log_figures(trainer.loggers, figures, trainer.global_step, self.dpi)


def export_readme_pictures(run_dir: str | Path, out_dir: str | Path, dpi: int = 100) -> list[Path]:
    """Copy a finished run's figures into ``out_dir`` and draw the unrolled RNN there."""
    from rnnlab.diagram import unrolled_rnn

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
    """``python -m rnnlab.figures RUN_DIR OUT_DIR``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        raise SystemExit("usage: python -m rnnlab.figures RUN_DIR OUT_DIR")
    for path in export_readme_pictures(*args):
        print(path)


if __name__ == "__main__":
    main()
