"""A task added from outside the package: its LightningModule, its report and its data live in
this test module, its two config files in a folder of the test's; nothing in src/ changes.

The toy task: sequences of ±1 steps, the label is whether they sum above zero. It trains,
tests and reports end to end through ``train.py``'s own function, the sweep comparison reads
it like any other task, and ``eval.py`` reproduces its numbers from the checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAccuracy

from rnnlab import rundir
from rnnlab.data.sequences import SequenceDataModule, SequenceSet, split_generator
from rnnlab.inference import sequence_outputs
from rnnlab.models.module import SequenceModel
from rnnlab.report.compare import compare
from rnnlab.report.figures import loss_figure, model_title
from rnnlab.report.task import TaskReport
from rnnlab.run.config import compose_config
from rnnlab.run.eval import evaluate
from rnnlab.run.train import train

TASK_YAML = """# @package _global_
model:
  _target_: tests.test_toy_task.SignModel
report:
  _target_: tests.test_toy_task.SignReport
  note: drawn by the toy report
"""
DATA_YAML = """# @package _global_
defaults:
  - override /task: sign
data:
  _target_: tests.test_toy_task.SignData
  seq_len: 9
  n_train: 256
  batch_size: 32
  shuffle_seed: ${seed}
  min_batches_per_epoch: 50
"""


class SignData(SequenceDataModule):
    """±1 steps; the target is 1 where they sum above zero (odd lengths: never a tie)."""

    tasks = ("sign",)

    def __init__(self, seq_len: int = 9, n_train: int = 256, **loader_kwargs: Any) -> None:
        super().__init__(**loader_kwargs)
        self.seq_len, self.n_train = seq_len, n_train

    def build(self) -> dict[str, SequenceSet]:
        sets = {}
        for split, n in (("train", self.n_train), ("val", 64), ("test", 64)):
            gen = split_generator(0, split)
            x = torch.randint(0, 2, (n, self.seq_len, 1), generator=gen).float() * 2 - 1
            sets[split] = SequenceSet(x, (x.sum((1, 2)) > 0).float())
        return sets

    def baselines(self) -> dict[str, float]:
        """Accuracy of always answering 1."""
        return {"always_one": self.sets["test"].targets.mean().item()}


class SignModel(SequenceModel):
    """One logit per sequence from the last hidden state."""

    task = "sign"

    def __init__(self, backbone: nn.Module, optimizer: Any, **kwargs: Any) -> None:
        super().__init__(backbone, optimizer, **kwargs)
        self.save_plain_hyperparameters()
        self.head = nn.Linear(backbone.output_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x)[:, -1])[:, 0]  # [B, L, F] -> [B, H] -> [B]

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return nn.functional.binary_cross_entropy_with_logits(output, target)

    def make_metrics(self, prefix: str) -> MetricCollection:
        return MetricCollection({"agreement": BinaryAccuracy()}, prefix=prefix)

    def metric_inputs(self, output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        return torch.sigmoid(output), target.long()


class SignReport(TaskReport):
    """The toy task's numbers, a predictions file and one figure."""

    def __init__(self, note: str = "") -> None:
        self.note = note

    def summary(self, model: Any, tested: dict[str, float], dm: Any) -> dict[str, Any]:
        return {
            "metric": "test_agreement",
            "metric_goal": "max",
            "test_agreement": tested["test/agreement"],
            "baselines": dm.baselines(),
            "table": [],
        }

    def write(self, model: Any, dm: Any, out_dir: Path) -> dict[str, Any]:
        dm.setup("test")
        test = dm.datasets["test"]
        logits = sequence_outputs(model, test)
        rows = [[i, int(t), float(p)] for i, (t, p) in enumerate(zip(test.targets, logits,
                                                                        strict=True))]  # fmt: skip
        rundir.write_csv(Path(out_dir) / rundir.PREDICTIONS, ["sequence", "target", "logit"], rows)
        return {"n_written": len(rows)}

    def figures(self, model, dm, history=None, *, window=0, max_panels=8) -> dict[str, Any]:
        figure = loss_figure(f"{model_title(model)}: {self.note}", history, "BCE loss")
        return {} if figure is None else {"sign_loss": figure}


def toy_config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "toy_conf"
    for name, text in (("task/sign.yaml", TASK_YAML), ("data/sign.yaml", DATA_YAML)):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_a_task_from_outside_the_package_trains_tests_and_reports(tmp_path, fast):
    search = f"hydra.searchpath=[file://{toy_config_dir(tmp_path)}]"
    sweep = tmp_path / "sweep"
    for seed in (1, 2):
        run = sweep / f"backbone=gru,seed={seed}"
        overrides = [*fast, search, "data=sign", "backbone=gru", f"seed={seed}",
                     "model.backbone.hidden_size=8", "logger=csv"]  # fmt: skip
        metrics = train(compose_config(run, overrides))
        (run / ".hydra").mkdir()  # what Hydra's multirun leaves beside metrics.json
        (run / ".hydra" / "overrides.yaml").write_text(f"- backbone=gru\n- seed={seed}\n")
        assert metrics["task"] == "sign" and metrics["metric"] == "test_agreement"
        assert 0.0 <= metrics["test_agreement"] <= 1.0 and metrics["n_written"] == 64
        on_disk = json.loads((run / rundir.METRICS).read_text())
        assert on_disk["baselines"]["always_one"] == metrics["baselines"]["always_one"]
        assert on_disk["val_agreement"] is not None  # the generic validation numbers
        assert (run / rundir.PREDICTIONS).read_text().startswith("sequence,target,logit\n")
        assert {p.name for p in (run / rundir.PLOTS).iterdir()} == {"sign_loss.png"}

    comparison = compare(sweep, make_plot=False)
    (section,) = comparison.sections
    assert section.metric == "test_agreement" and section.goal == "max"
    assert [r.kind for r in section.rows] == ["model", "baseline"]

    first = sweep / "backbone=gru,seed=1"
    ckpt = first / rundir.LAST_CKPT
    ev = compose_config(tmp_path / "eval", [f"ckpt_path='{ckpt}'", "accelerator=cpu"], "eval")
    tested = evaluate(ev)
    trained = json.loads((first / rundir.METRICS).read_text())
    assert tested["task"] == "sign" and tested["test_agreement"] == trained["test_agreement"]
    assert (tmp_path / "eval" / rundir.PLOTS / "sign_loss.png").is_file()
