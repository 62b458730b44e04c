"""eval.py: a checkpoint tested on its own data into a new run dir; clear errors for bad files."""

from __future__ import annotations

import collections
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnlab.errors import ConfigError
from rnnlab.run.checkpoints import load_checkpoint
from rnnlab.run.config import compose_config
from rnnlab.run.eval import evaluate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def trained(trained_run) -> dict:
    """metrics.json of the shared tiny finished run (tests/conftest.py)."""
    return trained_run.metrics


def eval_config(output_dir: Path, overrides: list[str]):
    return compose_config(output_dir, overrides, config_name="eval")


def read_csv(path: Path) -> list[list[float]]:
    return [[float(x) for x in line.split(",")] for line in path.read_text().splitlines()[1:]]


@pytest.mark.parametrize("which", ["last", "best"])
def test_eval_reproduces_the_test_metrics_of_training(trained, tmp_path, which):
    ckpt = trained[f"{which}_ckpt_path"]
    out = tmp_path / "eval"
    metrics = evaluate(eval_config(out, [f"ckpt_path={ckpt}", "figures=false", "accelerator=cpu"]))
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["backbone"] == "lstm" and metrics["seed"] == trained["seed"]
    assert metrics["noise_floor_mse"] == pytest.approx(trained["noise_floor_mse"], rel=1e-9)
    if which == "last":  # training tested its last weights
        assert metrics["ckpt_epoch"] == 3  # the shared run's 3 epochs
        for key in ("test_mse", "test_mae", "test_r2", "test_mse_ratio"):
            assert metrics[key] == pytest.approx(trained[key], rel=1e-6), key
        ours = read_csv(out / "predictions.csv")
        theirs = read_csv(Path(trained["run_dir"]) / "predictions.csv")
        assert len(ours) == len(theirs) == metrics["n_test"]
        for row, other in zip(ours, theirs, strict=True):
            assert row == pytest.approx(other, rel=1e-6)
    else:  # the same numbers as recomputing the MSE from the best weights by hand
        pred = read_csv(out / "predictions.csv")
        mse = sum((t - p) ** 2 for _, _, t, p, *_ in pred) / len(pred)
        assert metrics["test_mse"] == pytest.approx(mse, rel=1e-5)


def test_eval_can_test_on_another_noise_draw(trained, tmp_path):
    ckpt = trained["last_ckpt_path"]
    other = evaluate(
        eval_config(tmp_path / "e", [f"ckpt_path={ckpt}", "figures=false", "+data.seed=7"])
    )
    assert other["data_seed"] == 7
    assert other["test_mse"] != pytest.approx(trained["test_mse"], rel=1e-3)


@pytest.mark.slow
def test_eval_py_writes_a_new_run_dir_with_metrics_and_figures(trained, tmp_path):
    cmd = [sys.executable, str(ROOT / "eval.py"), f"ckpt_path={trained['last_ckpt_path']}",
           f"paths.log_dir={tmp_path / 'logs'}"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_mse"] == pytest.approx(trained["test_mse"], rel=1e-6)
    assert (run_dir / "predictions.csv").is_file() and (run_dir / ".hydra").is_dir()
    for name in ("predictions", "scatter", "loss", "hidden_states"):
        assert (run_dir / "plots" / f"{name}.png").stat().st_size > 0
    assert not list(Path(trained["run_dir"]).glob("eval*"))  # the training run is untouched


def _bad_files(good: Path, folder: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {
        "truncated": data[: len(data) // 2],
        "cut_to_100_bytes": data[:100],
        "empty": b"",
        "garbage": b"not a checkpoint at all " * 20,
    }
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name}.ckpt"
        paths[name].write_bytes(content)
    paths["plain_torch_file"] = folder / "plain.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, paths["plain_torch_file"])
    paths["python_objects"] = folder / "objects.pkl"
    with paths["python_objects"].open("wb") as f:
        pickle.dump({"counts": collections.OrderedDict(a=Path("x"))}, f)
    paths["missing"] = folder / "missing.ckpt"
    paths["directory"] = folder
    return paths


EXPECTED = {
    "truncated": "cannot be read: truncated or corrupt file",
    "cut_to_100_bytes": "cannot be read: truncated or corrupt file",
    "empty": "is empty (0 bytes)",
    "garbage": "corrupt",  # which of the two messages depends on the bytes
    "plain_torch_file": "is not an rnnlab checkpoint (no 'rnnlab' entry",
    "python_objects": "is not an rnnlab checkpoint, or is corrupt: torch.load(weights_only=True)",
    "missing": ": no such file",
    "directory": "is a directory; give a .ckpt file",
}


def test_bad_checkpoint_files_get_one_line_errors(trained, tmp_path):
    for name, path in _bad_files(Path(trained["last_ckpt_path"]), tmp_path).items():
        with pytest.raises(ConfigError) as info:
            load_checkpoint(path)
        message = str(info.value)
        assert message.startswith(f"ckpt_path={path}"), message
        assert EXPECTED[name] in message and "\n" not in message, (name, message)
    assert "rnnlab" in load_checkpoint(trained["last_ckpt_path"])  # the good one loads
    with pytest.raises(ConfigError, match=r"^ckpt_path is required: python eval\.py ckpt_path="):
        evaluate(eval_config(tmp_path / "e", []))
