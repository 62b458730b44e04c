"""Figures of a run: PNGs that show something, TensorBoard images, hidden states, the drawing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from rnnlab.models.backbones import GRU, LSTM, ElmanRNN
from rnnlab.report.figures import FIGURE_NAMES, log_figures, save_figures
from rnnlab.report.hidden import hidden_states, lstm_states
from rnnlab.report.plots import FIGSIZE, hidden_state_evolution, new_figure
from rnnlab.report.tasks.forecast import ForecastReport
from rnnlab.run.build import build_data, build_model, build_report
from rnnlab.run.train import train

DPI = 100  # conf/callbacks/default.yaml: callbacks.figures.dpi


def assert_png_shows_something(path: Path, name: str) -> None:
    assert path.is_file(), path
    with Image.open(path) as img:
        width, height = FIGSIZE[name]
        assert img.size == (round(width * DPI), round(height * DPI)), (path, img.size)
        pixels = np.asarray(img.convert("RGB"), dtype=float)
    assert pixels.std() > 10, f"{path} is (nearly) blank"
    colours = np.unique(pixels.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 20, f"{path} has only {len(colours)} colours"


def test_a_run_leaves_its_four_figures_in_pngs_and_tensorboard(trained_run):
    run_dir = trained_run.run_dir
    for name in FIGURE_NAMES:
        assert_png_shows_something(run_dir / "plots" / f"{name}.png", name)

    acc = EventAccumulator(str(run_dir), size_guidance={"images": 0}).Reload()
    tags = set(acc.Tags()["images"])
    assert tags == {f"figures/{name}" for name in FIGURE_NAMES}
    for name in FIGURE_NAMES:
        (event,) = acc.Images(f"figures/{name}")
        assert (event.width, event.height) == Image.open(run_dir / "plots" / f"{name}.png").size


# Every kind of backbone: its own hidden-state layout (h and c, two directions, layers).
BACKBONES = {
    "scratch": ["backbone=scratch", "model.backbone.hidden_size=4"],
    "scratch-2layer-bidirectional": [
        "backbone=scratch", "model.backbone.hidden_size=3", "model.backbone.num_layers=2",
        "model.backbone.bidirectional=true",
    ],
    "rnn-2layer-bidirectional": [
        "backbone=rnn", "model.backbone.hidden_size=6", "model.backbone.num_layers=2",
        "model.backbone.bidirectional=true",
    ],
    "lstm": ["backbone=lstm", "model.backbone.hidden_size=4"],
    "lstm-2layer-bidirectional": [
        "backbone=lstm", "model.backbone.hidden_size=5", "model.backbone.num_layers=2",
        "model.backbone.bidirectional=true", "model.backbone.dropout=0.2",
    ],
    "gru": ["backbone=gru", "model.backbone.hidden_size=12"],
}  # fmt: skip
HISTORY = [{"epoch": 1, "train/loss": 0.5, "val/loss": 0.4}, {"epoch": 2, "train/loss": 0.2,
           "val/loss": 0.3}]  # fmt: skip


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_every_backbone_gets_four_figures_in_pngs_and_tensorboard(make_cfg, tmp_path, backbone):
    """Drawn from an untrained model the way RunFigures draws a run's, once testing ends."""
    from lightning.pytorch.loggers import TensorBoardLogger

    cfg = make_cfg(*BACKBONES[backbone])
    dm = build_data(cfg.data)
    figures = build_report(cfg).figures(build_model(cfg, dm), dm, HISTORY)
    paths = save_figures(figures, tmp_path / "plots", dpi=DPI)
    for name in FIGURE_NAMES:
        assert_png_shows_something(paths[name], name)

    board = TensorBoardLogger(tmp_path / "tb", name="", version="")
    assert log_figures([board], figures, step=0, dpi=DPI) == 1
    board.experiment.flush()
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0}).Reload()
    assert set(acc.Tags()["images"]) == {f"figures/{name}" for name in FIGURE_NAMES}
    for name in FIGURE_NAMES:
        (event,) = acc.Images(f"figures/{name}")
        assert (event.width, event.height) == Image.open(paths[name]).size


# (callbacks.figures=null leaves no plots/: test_train's runs of each backbone check it.)
def test_csv_logger_gets_pngs_only(make_cfg):
    cfg = make_cfg(
        "logger=csv", "backbone=rnn", "model.backbone.hidden_size=3", "trainer.max_epochs=2",
        run_dir="csv",
    )  # fmt: skip
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert not list(run_dir.rglob("events.out.tfevents.*"))
    for name in FIGURE_NAMES:
        assert_png_shows_something(run_dir / "plots" / f"{name}.png", name)


def test_figures_put_predictions_on_the_true_time_axis():
    from rnnlab.data import SineDataModule
    from rnnlab.models import Forecaster

    torch.manual_seed(0)
    dm = SineDataModule()
    dm.setup("test")
    model = Forecaster(GRU(hidden_size=4), optimizer=torch.optim.Adam)
    history = [{"epoch": 1, "train/loss": 0.5, "val/loss": ""}, {"epoch": 2, "train/loss": 0.2,
               "val/loss": 0.3}]  # fmt: skip
    figures = ForecastReport().figures(model, dm, history)

    # The first test target is series index 804 (t ≈ 80.5), not 800 as in the walk-through.
    zoom = figures["predictions"].axes[1]
    prediction_line = next(ln for ln in zoom.get_lines() if ln.get_label() == "prediction")
    assert prediction_line.get_xdata()[0] == pytest.approx(dm.time[804].item())
    assert dm.time[804].item() == pytest.approx(80.48, abs=0.01)
    with torch.no_grad():
        test = dm.datasets["test"]
        pred = model(test.inputs)
    np.testing.assert_allclose(prediction_line.get_ydata(), pred[:, 0].numpy(), rtol=1e-6)
    mse = torch.mean((pred - test.targets) ** 2).item()
    title = figures["scatter"].axes[0].get_title()
    assert f"MSE {mse:.4g}" in title and "R²" in title
    curves = {ln.get_label(): ln.get_xdata() for ln in figures["loss"].axes[0].get_lines()}
    assert list(curves["training"]) == [1, 2] and list(curves["validation"]) == [2]


def test_lstm_states_match_nn_lstm_and_carry_the_cell_state():
    torch.manual_seed(0)
    lstm = nn.LSTM(1, 5, num_layers=2, bidirectional=True, batch_first=True).eval()
    x = torch.randn(3, 9, 1)
    h, c = lstm_states(lstm, x)
    out, (_, c_n) = lstm(x)
    torch.testing.assert_close(h, out)
    # c_n holds the last layer's forward state after step L and backward state after step 1.
    torch.testing.assert_close(c[:, -1, :5], c_n[-2])
    torch.testing.assert_close(c[:, 0, 5:], c_n[-1])
    assert not torch.allclose(h, torch.tanh(c))  # c is its own quantity, not h in disguise


def test_hidden_states_of_each_kind_of_backbone():
    torch.manual_seed(0)
    window = torch.randn(7, 1)
    states = hidden_states(LSTM(hidden_size=3), window)
    assert set(states) == {"h", "c"} and states["h"].shape == states["c"].shape == (7, 3)
    scratch = ElmanRNN(hidden_size=4, bidirectional=True)
    states = hidden_states(scratch, window)
    assert set(states) == {"h"}
    torch.testing.assert_close(states["h"], scratch(window[None])[0])
    assert hidden_states(GRU(hidden_size=2, num_layers=2), window)["h"].shape == (7, 2)

    class OwnBackbone(nn.Module):  # a user's module: its own output sequence is used
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(1, 3, batch_first=True)
            self.proj = nn.Linear(3, 2)

        def forward(self, x):
            return self.proj(self.lstm(x)[0])

    states = hidden_states(OwnBackbone(), window)
    assert set(states) == {"h"} and states["h"].shape == (7, 2)
    assert hidden_states(nn.GRU(1, 3, batch_first=True), window)["h"].shape == (7, 3)
    with pytest.raises(ValueError, match="one window"):
        hidden_states(LSTM(hidden_size=3), torch.randn(2, 7, 1))


def test_hidden_state_figure_uses_panels_for_few_units_and_a_heat_map_for_many():
    steps, rng = 6, np.random.default_rng(0)
    few, many = new_figure("hidden_states"), new_figure("hidden_states")
    hidden_state_evolution(few, {"h": rng.random((steps, 4)), "c": rng.random((steps, 4))},
                           inputs=np.arange(steps))  # fmt: skip
    assert len(few.axes) == 1 + 2 * 4  # input strip + one panel per unit and state
    assert not any(ax.images for ax in few.axes)
    hidden_state_evolution(many, {"h": rng.random((steps, 12))}, inputs=np.arange(steps))
    heat = [ax for ax in many.axes if ax.images]
    assert len(heat) == 1 and heat[0].images[0].get_array().shape == (12, steps)


def test_unrolled_rnn_drawing():
    from rnnlab.report.diagram import unrolled_rnn

    fig = unrolled_rnn(steps=3)
    texts = {t.get_text() for t in fig.axes[0].texts}
    for symbol in ("$x_{1}$", "$h_{2}$", "$y_{3}$", "$h_0$", "$x_t$", "$h_t$", "$y_t$"):
        assert symbol in texts
    assert len(fig.axes[0].patches) > 3 * 3 * 2  # nodes and arrows
    with pytest.raises(ValueError, match="steps=9"):
        unrolled_rnn(steps=9)
