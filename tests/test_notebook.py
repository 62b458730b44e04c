"""The tutorial notebook runs from top to bottom, headless, with a few optimizer steps per model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


NOTEBOOK = ROOT / "notebooks" / "rnn_tutorial.ipynb"


def _kernel_of_this_interpreter(tmp_path: Path) -> KernelManager:
    """A kernel started by the Python running the tests (the project's .venv under `make test`),
    whatever `python3` kernels the machine or the user's profile may also have registered."""
    spec_dir = tmp_path / "kernels" / "rnnlab-test"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "rnnlab test kernel",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    return KernelManager(kernel_name="rnnlab-test", kernel_spec_manager=specs)


def test_notebook_is_kept_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, cell.source[:80]


@pytest.mark.slow
def test_tutorial_notebook_runs_headless(tmp_path, monkeypatch):
    work = tmp_path / "work"
    monkeypatch.setenv("RNNLAB_NB_STEPS", "40")
    monkeypatch.setenv("RNNLAB_NB_DIR", str(work))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no display on CI; the notebook picks inline anyway
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, km=_kernel_of_this_interpreter(tmp_path), timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )  # fmt: skip
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error

    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == 9  # drawing, data, comparison chart, four run figures, two hidden-state
    text = "".join(out.get("text", "") for out in outputs)
    assert "first target at index  804" in text or "first target at index 804" in text
    for name in ("scratch", "rnn", "lstm", "gru"):
        metrics = json.loads((work / "backbones" / f"backbone={name}" / "metrics.json").read_text())
        # 40 optimizer steps end inside the first epoch, which holds at least 50 batches
        assert metrics["backbone"] == name and metrics["epochs_trained"] == 1
    assert (work / "backbones" / "comparison.md").is_file()
    assert not list(ROOT.glob("notebooks/logs")) and not (tmp_path / "logs").exists()
