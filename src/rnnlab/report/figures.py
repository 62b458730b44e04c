"""The pieces every task's figures share, and where figures go.

A task's report (``rnnlab.report.tasks``) draws its figures from the pieces here (the loss
curves, the hidden states over one example, a title); the ``RunFigures`` callback saves them
as ``<run dir>/plots/<name>.png`` and shows them in TensorBoard once testing ends, so
training is never slowed down, and matplotlib is imported only then.

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

import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from rnnlab.report.hidden import hidden_states, unit_labels

# The README's pictures (``make figures``): the default run's.
FIGURE_NAMES = ("predictions", "scatter", "loss", "hidden_states")


def model_title(model: Any) -> str:
    """A figure title naming the backbone and its size."""
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


def loss_figure(
    title: str,
    history: Iterable[dict[str, Any]] | None,
    ylabel: str = "MSE loss",
    floor: float | None = None,
) -> Any | None:
    """Training and validation loss per epoch from ``history`` rows; None without any."""
    from rnnlab.report import plots

    curves = history_curves(history) if history is not None else {}
    if not curves:
        return None
    fig = plots.new_figure("loss")
    plots.loss_curves(fig.subplots(), curves, title=f"{title}: loss per epoch", ylabel=ylabel,
                      floor=floor)  # fmt: skip
    return fig


def hidden_states_figure(
    model: torch.nn.Module,
    x: torch.Tensor,
    *,
    inputs: Any = None,
    target: float | None = None,
    max_panels: int = 8,
    title: str,
) -> Any:
    """Every hidden unit of ``model``'s backbone over the steps of one input ``x [L, F]``
    (what the backbone reads), with ``inputs`` (default: ``x``) drawn above them."""
    from rnnlab.report import plots

    backbone = getattr(model, "backbone", model)
    states = hidden_states(backbone, x)
    units = next(iter(states.values())).shape[1]
    fig = plots.new_figure("hidden_states")
    plots.hidden_state_evolution(
        fig,
        states,
        inputs=x.cpu() if inputs is None else inputs,
        target=target,
        unit_labels=unit_labels(backbone, units),
        max_panels=max_panels,
        title=title,
    )
    return fig


def example_index(index: int, n: int, what: str = "windows") -> int:
    """``index`` (negative counts from the end) among ``n`` test examples, or a one-line
    error naming the setting."""
    if not -n <= index < n:
        raise ValueError(f"figures window={index}: the test split has {n} {what}")
    return index % n


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
