"""``python export.py``: every backbone's exported graph against PyTorch (ONNX Runtime and
TorchScript, any batch size), the graph against the project's own forecast in the file's
units, and the model.json beside it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort  # the `export` extra, which `make install` installs
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from torch import nn

from rnnlab.errors import ConfigError
from rnnlab.inference import forecast_beyond
from rnnlab.run.build import build_data, build_model
from rnnlab.run.config import backbone_choices, compose_config
from rnnlab.run.export import (
    Deployed,
    example_inputs,
    export_model,
    quiet_exporters,
    to_torchscript,
)
from rnnlab.run.predict import load_model, predict

# Every backbone, each with another loss and kind of interval, on a small weather set-up:
# four observed columns and two calendar features in the window, known features ahead.
L = 3  # short windows: the export forms' loops are unrolled, and an export takes seconds
SETUP = ["experiment=weather", f"data.seq_len={L}", "model.horizon=2",
         "model.backbone.hidden_size=4"]  # fmt: skip
LOSSES = [("mse", "conformal"), ("gaussian", "model"), ("quantile", "conformal")]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> dict[str, Deployed]:
    """Every backbone as its export graph, with statistics and a calibration to carry."""
    out = {}
    torch.manual_seed(0)
    for i, backbone in enumerate(backbone_choices()):
        loss, intervals = LOSSES[i % len(LOSSES)]
        cfg = compose_config(tmp_path_factory.mktemp(backbone), [*SETUP, f"backbone={backbone}",
                             f"model.loss={loss}", f"model.intervals={intervals}"])  # fmt: skip
        dm = build_data(cfg.data)
        model = build_model(cfg, dm).eval()
        model.store_statistics(dm)
        model.conformal.q.copy_(torch.rand_like(model.conformal.q))
        out[backbone] = Deployed(model).eval()
    GlobalHydra.instance().clear()
    return out


class Every(nn.Module):
    """All the graphs side by side: one export checks them all (an export takes seconds)."""

    def __init__(self, graphs: dict[str, Deployed]) -> None:
        super().__init__()
        self.graphs = nn.ModuleDict(graphs)

    def forward(self, x: torch.Tensor, future: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(out for graph in self.graphs.values() for out in graph(x, future))


def session(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def test_onnx_runtime_equals_pytorch_for_every_backbone(deployed, tmp_path):
    assert set(deployed) == {"gru", "lru", "lstm", "mingru", "minlstm", "rnn", "scratch"}
    every = Every(deployed).eval()
    some = next(iter(deployed.values()))
    x, future = example_inputs(some, L, batch=3)
    # One graph of fixed batch size, unoptimised: written in a third of the time of
    # export_model's (a free batch and onnxscript's optimiser; tested on the LSTM below).
    with quiet_exporters():
        program = torch.onnx.export(every, (x, future), dynamo=True, optimize=False,
                                    input_names=["x", "future"], verbose=False)  # fmt: skip
    program.save(str(tmp_path / "every.onnx"))
    with torch.no_grad():
        expected = every(x, future)
    got = session(tmp_path / "every.onnx").run(None, {"x": x.numpy(), "future": future.numpy()})
    assert len(got) == len(expected) == 3 * 7  # forecast, lower, upper each
    for g, e in zip(got, expected, strict=True):
        assert g.shape == tuple(e.shape)
        assert np.abs(g - e.numpy()).max() <= 1e-5 * max(1.0, float(e.abs().max()))


def test_torchscript_equals_pytorch_for_every_backbone(deployed, tmp_path):
    for name, graph in deployed.items():
        to_torchscript(graph, example_inputs(graph, L), tmp_path / f"{name}.pt")
        traced = torch.jit.load(str(tmp_path / f"{name}.pt"))
        x, future = example_inputs(graph, L, batch=3)
        with torch.no_grad():
            for t, e in zip(traced(x, future), graph(x, future), strict=True):
                assert torch.allclose(t, e, atol=1e-6), name


def test_the_graph_forecasts_what_the_model_forecasts_in_the_files_units(deployed, tmp_path):
    graph = deployed["lstm"]  # mse, conformal
    cfg = compose_config(tmp_path, [*SETUP, "backbone=lstm"])
    GlobalHydra.instance().clear()
    frame = build_data(cfg.data).frame()
    _, own = forecast_beyond(graph.net, frame, 2)  # the project's inference path
    n, L = frame.n_points, frame.seq_len
    raw = frame.features(torch.arange(n - L, n))  # model units: back to the file's
    stats = graph.net.statistics
    observed = graph.net.data_columns
    loc = torch.tensor([stats[c][0] for c in observed] + [0.0, 0.0])
    scale = torch.tensor([stats[c][1] for c in observed] + [1.0, 1.0])
    x = (raw.double() * scale + loc).float()[None]  # what a user feeds: raw values
    future = frame.future_known(frame.future_time(2))[None]
    with torch.no_grad():
        forecast, lower, upper = graph(x, future)
    assert forecast[0, :, 0].tolist() == pytest.approx(own.point[0, :, 0].tolist(), rel=1e-5)
    for k, c in enumerate(graph.coverages):
        assert lower[0, k, :, 0].tolist() == pytest.approx(own.bands[c][0][0, :, 0].tolist(),
                                                           rel=1e-5)  # fmt: skip
        assert upper[0, k, :, 0].tolist() == pytest.approx(own.bands[c][1][0, :, 0].tolist(),
                                                           rel=1e-5)  # fmt: skip


def test_export_py_writes_a_model_and_its_json_that_predict_agrees_with(trained_run, tmp_path):
    model, run_cfg = load_model(trained_run.metrics["ckpt_path"])
    onnx_path = export_model(model, run_cfg, "onnx", tmp_path / "onnx")
    ts_path = export_model(model, run_cfg, "torchscript", tmp_path / "ts")
    info = json.loads((tmp_path / "onnx" / "model.json").read_text())
    assert info["window"] == 20 and info["horizon"] == 1 and info["file"] == "model.onnx"
    assert info["columns"] == {"inputs": ["value"], "targets": ["value"], "known": []}
    assert info["intervals"] == {"kind": "conformal", "coverages": [0.5, 0.8, 0.95]}
    assert info["inputs"] == {"x": ["batch", 20, 1]}
    assert info["statistics"] == {"value": {"loc": 0.0, "scale": 1.0}}  # the sine is unscaled

    cfg = compose_config(tmp_path / "p", [f"run_dir={trained_run.run_dir}"], "predict")
    (path,) = predict(cfg)["files"]
    GlobalHydra.instance().clear()
    with Path(path).open() as f:
        (row,) = list(csv.DictReader(f))
    dm = build_data(run_cfg.data)
    x = dm.frame().series[-20:][None, :, None]  # the last window, raw
    graph = session(onnx_path)  # exported with a batch of 2: batches of 1 and 4 run too
    forecast, lower, upper = graph.run(None, {"x": x.numpy()})
    (four, *_) = graph.run(None, {"x": x.repeat(4, 1, 1).numpy()})
    assert four.shape == (4, 1, 1) and np.allclose(four, forecast[0], atol=1e-6)
    with torch.no_grad():
        scripted = torch.jit.load(str(ts_path))(x)
    for out in (forecast, scripted[0].numpy()):
        assert out[0, 0, 0] == pytest.approx(float(row["forecast"]), abs=1e-5)
    assert lower[0, 1, 0, 0] == pytest.approx(float(row["lower80"]), abs=1e-5)
    assert upper[0, 2, 0, 0] == pytest.approx(float(row["upper95"]), abs=1e-5)


def test_a_model_without_statistics_or_another_task_is_refused(trained_run, tmp_path):
    model, run_cfg = load_model(trained_run.metrics["ckpt_path"])
    model.data_loc.fill_(float("nan"))  # as a checkpoint written before statistics were kept
    with pytest.raises(ConfigError, match=r"stores no training statistics"):
        export_model(model, run_cfg, "torchscript", tmp_path)
    with pytest.raises(ConfigError, match=r"format=keras is invalid: one of onnx, torchscript"):
        export_model(model, run_cfg, "keras", tmp_path)
