"""A finished forecasting run as an MLflow pyfunc model (``logger=mlflow`` logs it as ``model``).

    import mlflow
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    forecast = model.predict(history)      # a pandas DataFrame, as predict.py's forecast.csv

``history`` holds the model's columns (those of its training file; a generated series such
as the sine: a column ``value``), oldest row first, at least one window of them, and the
time column where the model has calendar features. The prediction is ``python predict.py``'s
own (``rnnlab.run.predict``: the checkpoint's weights and training statistics, the report's
``predict``), run on the table; ``params={"horizon": K}`` forecasts ``K`` steps.
"""

from __future__ import annotations

import importlib.metadata
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from omegaconf import OmegaConf


class RnnlabForecast(mlflow.pyfunc.PythonModel):
    """The pyfunc model: a checkpoint (``context.artifacts["checkpoint"]``) read once, then
    ``predict`` on any table of history (module docstring)."""

    def load_context(self, context: Any) -> None:
        from rnnlab.run.predict import load_model

        self.model, self.run_cfg = load_model(context.artifacts["checkpoint"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """The forecast beyond ``model_input`` (a table of history), as a DataFrame."""
        from rnnlab.run.build import build_data, build_report, setting_errors
        from rnnlab.run.predict import table_data_config

        horizon = (params or {}).get("horizon")
        with tempfile.TemporaryDirectory(prefix="rnnlab-pyfunc-") as tmp:
            table = Path(tmp) / "history.csv"
            pd.DataFrame(model_input).to_csv(table, index=False)
            data = table_data_config(self.run_cfg, self.model, str(table))
            dm = build_data(OmegaConf.create(data), load=False)
            with setting_errors():
                (path, *_) = build_report(self.run_cfg).predict(
                    self.model, dm, Path(tmp), horizon=horizon
                )
            return pd.read_csv(path)


def requirements() -> list[str]:
    """What loading the model needs: rnnlab's own dependencies."""
    try:
        return [r for r in importlib.metadata.requires("rnnlab") or [] if "extra ==" not in r]
    except importlib.metadata.PackageNotFoundError:
        return []


def log_pyfunc(client: Any, run_id: str, ckpt_path: str, folder: str = "model") -> bool:
    """Save the pyfunc model of ``ckpt_path`` and add it to the MLflow run ``run_id`` as
    ``folder`` (``runs:/<run_id>/model``); False (nothing logged) for a model that does not
    forecast from stored statistics (another task, or a checkpoint without them)."""
    from rnnlab.run.predict import load_model

    model, _ = load_model(ckpt_path)
    if not getattr(model, "statistics", None):
        return False
    from mlflow.models import ModelSignature
    from mlflow.types import DataType, ParamSchema, ParamSpec

    # horizon=0: the model's own number of steps
    params = ParamSchema([ParamSpec("horizon", DataType.long, 0)])
    pyfunc_log = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_log.level
    with tempfile.TemporaryDirectory(prefix="rnnlab-pyfunc-") as tmp, warnings.catch_warnings():
        # MLflow's notes on pickling the model object and on predict's missing type hints:
        # the object is this module's class, and the table's columns depend on the run.
        warnings.simplefilter("ignore", UserWarning)
        pyfunc_log.setLevel(logging.ERROR)
        saved = Path(tmp) / folder
        try:
            mlflow.pyfunc.save_model(
                saved, python_model=RnnlabForecast(), artifacts={"checkpoint": str(ckpt_path)},
                pip_requirements=requirements(), signature=ModelSignature(params=params),
            )  # fmt: skip
        finally:
            pyfunc_log.setLevel(level)
        client.log_artifacts(run_id, str(saved), folder)
    return True
