"""Export a trained forecaster as one self-contained model; the body of ``python export.py``.

    python export.py run_dir=logs/train/runs/<stamp>                   # ONNX (model.onnx)
    python export.py run_dir=RUN format=torchscript                    # TorchScript (model.pt)
    python export.py ckpt_path=RUN/checkpoints/best.ckpt format=onnx

The exported graph takes the raw window in the file's units and returns the forecast in the
file's units: the standardisation with the statistics stored at training time, the model's
own per-window normalisation and the intervals (conformal or the likelihood's) are inside
it. Inputs ``x [batch, window, features]`` (observed columns, then calendar features as
``rnnlab.data.csv.calendar_features`` computes them) and, for a model with calendar
features, ``future [batch, horizon, known]``; outputs ``point [batch, horizon, targets]``
(the forecast) and, with intervals, ``lower``/``upper [batch, coverages, horizon,
targets]``. The batch size is free, the window length is the trained one. ``model.json``
beside it says all of that (columns, statistics, coverages). Written into a new run
directory (``logs/export/runs/<stamp>``).

Backbones export through their export forms (``rnnlab.models.export_forms``: the scan cells
as step loops, the LRU in real arithmetic); docs/deploy.md lists what cannot export.
ONNX needs the ``export`` extra (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from rnnlab.errors import ConfigError, one_line
from rnnlab.inference import calibration, fan_coverages, model_horizon
from rnnlab.models.conformal import model_interval
from rnnlab.models.export_forms import exportable
from rnnlab.models.heads import LastStepHead
from rnnlab.run.config import CONF_DIR, backbone_name
from rnnlab.run.failures import job_guard
from rnnlab.run.predict import checkpoint_path, load_model
from rnnlab.run.validation import validate_config

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}
EXAMPLE_BATCH = 2  # torch.export specialises a dimension of size 1: a batch of 2 stays free
ONNX_MODULES = ("onnx", "onnxscript", "onnxruntime")


class Deployed(nn.Module):
    """A forecaster from raw window to forecast, both in the file's units (module docstring).

    ``forward(x[, future])`` returns ``(point,)`` or ``(point, lower, upper)``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        stats = getattr(model, "statistics", None)
        if not stats:
            raise ConfigError(
                "the checkpoint stores no training statistics (written by an older rnnlab): "
                "train the model again to export it"
            )
        trainer, model._trainer = getattr(model, "_trainer", None), None
        try:  # a copy without the trainer, whose backbone is the export form
            net = copy.deepcopy(model)
        finally:
            model._trainer = trainer
        for name in ("val_metrics", "test_metrics"):
            if hasattr(net, name):
                delattr(net, name)
        net.backbone = exportable(net.backbone, last_only=isinstance(net.head, LastStepHead))
        self.net = net.eval()
        columns = dict(model.hparams.get("columns") or {})
        inputs = columns.get("inputs") or ["value"]
        known = set(columns.get("known") or [])
        loc = [0.0 if n in known else stats[n][0] for n in inputs]  # calendar: as computed
        scale = [1.0 if n in known else stats[n][1] for n in inputs]
        self.register_buffer("in_loc", torch.tensor(loc))
        self.register_buffer("in_scale", torch.tensor(scale))
        horizon, targets = model_horizon(model), list(model.target_names)
        self.horizon, self.n_targets = horizon, len(targets)
        # [T] -> [H·T], step-major as the model's outputs
        self.register_buffer(
            "out_loc", torch.tensor([stats[n][0] for n in targets]).repeat(horizon)
        )
        self.register_buffer(
            "out_scale", torch.tensor([stats[n][1] for n in targets]).repeat(horizon)
        )
        self.conformal = calibration(model) is not None
        if self.conformal:
            self.coverages = tuple(model.conformal.levels)
        elif getattr(model, "intervals", "none") == "model":
            self.coverages = tuple(fan_coverages(model.likelihood))
        else:
            self.coverages = ()
        self.interval_kind = (
            "conformal" if self.conformal else ("model" if self.coverages else "none")
        )
        if self.conformal:  # what the rows of forward move by, in model units
            q = model.conformal.q.detach().float()  # [C, H·T]
            self.register_buffer("offsets", torch.cat([torch.zeros_like(q[:1]), -q, q]))

    def _file_units(self, values: Tensor) -> Tensor:
        values = values * self.out_scale + self.out_loc  # [B, H·T]
        return values.unflatten(1, (self.horizon, self.n_targets))  # -> [B, H, T]

    def forward(self, x: Tensor, future: Tensor | None = None) -> tuple[Tensor, ...]:
        z = (x - self.in_loc) / self.in_scale  # file units -> model units, [B, L, F]
        params = self.net.distribution(z, future)
        likelihood = self.net.likelihood
        point = likelihood.point(params)  # [B, H·T], model units
        if not self.coverages:
            return (self._file_units(point),)
        # One tensor of rows [point, lower per coverage, upper per coverage], mapped to the
        # file's units at once: fewer graph nodes, and each node costs time per call.
        if likelihood.probabilistic:
            ends = [model_interval(likelihood, params, c) for c in self.coverages]
            rows = torch.stack([point, *(lo for lo, _ in ends), *(hi for _, hi in ends)], 1)
        else:  # every interval is centred on the point
            rows = point.unsqueeze(1)  # [B, 1, H·T]
        if self.conformal:
            rows = rows + self.offsets  # [B, 1 + 2C, H·T]: 0, then −q, then +q
        rows = rows * self.out_scale + self.out_loc
        rows = rows.unflatten(2, (self.horizon, self.n_targets))  # [B, 1 + 2C, H, T]
        c = len(self.coverages)
        return rows[:, 0], rows[:, 1 : 1 + c], rows[:, 1 + c :]


def example_inputs(deployed: Deployed, window: int, batch: int = EXAMPLE_BATCH) -> tuple:
    """Inputs of the right shapes for tracing: a window of the training statistics' level
    plus noise, and calendar values in [-1, 1]."""
    generator = torch.Generator().manual_seed(0)
    features = len(deployed.in_loc)
    noise = torch.randn(batch, window, features, generator=generator)
    x = deployed.in_loc + deployed.in_scale * noise
    n_known = deployed.net.n_known
    if not n_known:
        return (x,)
    future = torch.rand(batch, deployed.horizon, n_known, generator=generator) * 2 - 1
    return x, future


def names(deployed: Deployed) -> tuple[list[str], list[str]]:
    """The graph's input and output names."""
    inputs = ["x", "future"] if deployed.net.n_known else ["x"]
    outputs = ["point", "lower", "upper"] if deployed.coverages else ["point"]
    return inputs, outputs


@contextmanager
def quiet_exporters():
    """The exporters' progress lines and notes about their own internals left out."""
    chatty = ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")
    loggers = [logging.getLogger(n) for n in chatty]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def to_onnx(
    graph: nn.Module,
    inputs: tuple,
    path: Path,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    optimize: bool = True,
) -> None:
    """``torch.onnx.export`` (torch.export based) with a free batch dimension (the example
    ``inputs`` hold two windows); names default to ``names(graph)`` of a ``Deployed``.
    ``optimize``: onnxscript's graph optimisation (the LSTM-32 window runs in about two
    thirds of the time under ONNX Runtime; the export takes about three times as long)."""
    missing = [m for m in ONNX_MODULES if find_spec(m) is None]
    if missing:
        raise ConfigError(
            f'format=onnx needs the {", ".join(missing)} package(s): pip install -e ".[export]"'
        )
    if input_names is None and isinstance(graph, Deployed):
        input_names, output_names = names(graph)
    batch = torch.export.Dim("batch")
    dynamic = tuple({0: batch} for _ in inputs)
    with quiet_exporters():
        program = torch.onnx.export(
            graph, inputs, dynamo=True, input_names=input_names, output_names=output_names,
            dynamic_shapes=dynamic, verbose=False, optimize=optimize,
        )  # fmt: skip
        program.save(str(path))


def to_torchscript(deployed: Deployed, inputs: tuple, path: Path) -> None:
    """``torch.jit.trace`` of the graph (the loops unrolled over the window)."""
    import lightning.pytorch as pl

    # Tracing reads every property of the (copied) LightningModule, and its `trainer` raises
    # when none is attached: attach an idle one through the public setter.
    deployed.net.trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    with quiet_exporters(), torch.no_grad():
        traced = torch.jit.trace(deployed, inputs, check_trace=False)
    traced.save(str(path))


def describe(deployed: Deployed, run_cfg: DictConfig, fmt: str, file: str) -> dict[str, Any]:
    """``model.json``: what the graph reads and returns, and where it came from."""
    columns = dict(deployed.net.hparams.get("columns") or {})
    inputs_names, output_names = names(deployed)
    window = int(OmegaConf.select(run_cfg, "data.seq_len"))
    horizon, targets = deployed.horizon, deployed.net.target_names
    shapes = {
        "x": ["batch", window, len(deployed.in_loc)],
        "future": ["batch", horizon, deployed.net.n_known],
        "point": ["batch", horizon, len(targets)],
        "lower": ["batch", len(deployed.coverages), horizon, len(targets)],
        "upper": ["batch", len(deployed.coverages), horizon, len(targets)],
    }
    stats = deployed.net.statistics
    return {
        "format": fmt,
        "file": file,
        "window": window,
        "horizon": horizon,
        "columns": {
            "inputs": columns.get("inputs") or ["value"],
            "targets": list(targets),
            "known": columns.get("known") or [],
        },
        "calendar": list(OmegaConf.select(run_cfg, "data.calendar", default=None) or []),
        "time_column": OmegaConf.select(run_cfg, "data.time_column", default=None),
        "units": "the file's: x holds raw values, the outputs are in the targets' own units "
        "(the standardisation below is inside the graph); calendar features enter as computed",
        "statistics": {n: {"loc": loc, "scale": scale} for n, (loc, scale) in stats.items()},
        "inputs": {n: shapes[n] for n in inputs_names},
        "outputs": {n: shapes[n] for n in output_names},
        "intervals": {"kind": deployed.interval_kind, "coverages": list(deployed.coverages)},
        "backbone": backbone_name(OmegaConf.to_container(run_cfg)),
        "loss": OmegaConf.select(run_cfg, "model.loss", default=None),
        "torch": torch.__version__,
    }


def export_model(model: nn.Module, run_cfg: DictConfig, fmt: str, out_dir: Path) -> Path:
    """Write ``model`` as ``fmt`` (``onnx``, ``torchscript``) into ``out_dir`` with its
    ``model.json``; returns the model file. A model that does not export is a one-line
    ``ConfigError`` naming the reason."""
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt} is invalid: one of {', '.join(FORMATS)}")
    if not hasattr(model, "distribution"):
        raise ConfigError(
            f"task={model.task} does not export: export.py writes forecasters (their window "
            "in, forecast out)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    deployed = Deployed(model).eval()
    window = int(OmegaConf.select(run_cfg, "data.seq_len"))
    inputs = example_inputs(deployed, window)
    path = out_dir / FORMATS[fmt]
    try:
        (to_onnx if fmt == "onnx" else to_torchscript)(deployed, inputs, path)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"format={fmt}: backbone={backbone_name(OmegaConf.to_container(run_cfg))} does not "
            f"export ({one_line(exc, limit=160)}); see docs/deploy.md"
        ) from None
    info = describe(deployed, run_cfg, fmt, path.name)
    (out_dir / "model.json").write_text(json.dumps(info, indent=2) + "\n")
    return path


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="export")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; errors follow ``rnnlab.run.failures``."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with job_guard(run_dir):
        validate_config(cfg)
        path = checkpoint_path(cfg.get("run_dir"), cfg.get("ckpt_path"))
        model, run_cfg = load_model(path, "run_dir" if cfg.get("run_dir") else "ckpt_path")
        written = export_model(model, run_cfg, str(cfg.format), run_dir)
        print(json.dumps({"model": str(written), "json": str(run_dir / "model.json")}), flush=True)


if __name__ == "__main__":
    main()
