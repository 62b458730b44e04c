"""rnnlab.report.compare on sweep directories laid out as Hydra and train.py leave them
(no training)."""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from rnnlab.report.compare import aggregate, compare, latest_sweep, main, markdown
from rnnlab.run.config import compose_config
from rnnlab.run.hydra_callbacks import threads_per_job

ROOT = Path(__file__).resolve().parents[1]

FLOOR = 0.01
# A real metrics.json per task (``real_metrics``): every fake below is one of them with some
# numbers replaced, so the fakes carry exactly the keys train.py writes.
TEMPLATES: dict[str, dict] = {}
TINY = ["trainer.max_epochs=1", "data.min_batches_per_epoch=1", "trainer.accelerator=cpu",
        "callbacks=none", "logger=none", "model.backbone.hidden_size=4"]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def real_metrics(tmp_path_factory):
    """Tiny real runs of three tasks (forecast; regress on the adding problem; classify on a
    small CSV of labelled sequences), read back as the templates of the fakes."""
    from rnnlab.run.train import train

    root = tmp_path_factory.mktemp("real")
    rows = ["sequence,step,x,label"] + [
        f"s{i},{t},{(i % 3) + 0.1 * t},{'abc'[i % 3]}" for i in range(30) for t in range(4 + i % 3)
    ]
    (root / "seqs.csv").write_text("\n".join(rows) + "\n")
    runs = {
        "forecast": [],
        "regress": ["data=adding", "data.seq_len=6", "data.n_train=16", "data.n_val=8",
                    "data.n_test=8"],
        "classify": ["data=sequences", f"data.path={root / 'seqs.csv'}"],
    }  # fmt: skip
    for task, overrides in runs.items():
        metrics = train(compose_config(root / task, [*TINY, *overrides]))
        assert metrics["task"] == task
        TEMPLATES[task] = json.loads((root / task / "metrics.json").read_text())
    GlobalHydra.instance().clear()


def real_job(sweep: Path, overrides: dict[str, object], num: int, task: str, **numbers) -> Path:
    """A run dir named by its overrides holding the real ``task`` metrics.json with
    ``numbers`` put in (only keys that metrics.json has: a fake never invents one)."""
    run_dir = sweep / ",".join(f"{k}={v}" for k, v in overrides.items())
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump([f"{k}={v}" for k, v in overrides.items()])
    )
    (run_dir / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"num": num}}}))
    metrics = json.loads(json.dumps(TEMPLATES[task]))
    invented = set(numbers) - set(metrics)
    assert not invented, f"metrics.json of task={task} has no {sorted(invented)}"
    baselines = numbers.pop("baselines", None)
    if baselines is not None:
        assert set(baselines) <= set(metrics["baselines"]) or not metrics["baselines"]
        metrics["baselines"] = baselines
    metrics.update(numbers, backbone=overrides.get("backbone", "lstm"))
    metrics["seed"] = int(overrides.get("seed", 42))
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def fake_job(
    sweep: Path,
    overrides: dict[str, object],
    num: int,
    test_mse: float | None = None,
    error: str | None = None,
    val_mse: float | None = None,
    **extra: float,
) -> Path:
    """A forecast run dir named by its overrides, as the train.py of a multirun leaves it."""
    if test_mse is None:
        run_dir = sweep / ",".join(f"{k}={v}" for k, v in overrides.items())
        (run_dir / ".hydra").mkdir(parents=True)
        (run_dir / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump([f"{k}={v}" for k, v in overrides.items()])
        )
        (run_dir / ".hydra" / "hydra.yaml").write_text(
            yaml.safe_dump({"hydra": {"job": {"num": num}}})
        )
        if error is not None:
            (run_dir / "error.txt").write_text(
                f"{error}\n\nTraceback (most recent call last): ...\n"
            )
        return run_dir
    seed = int(overrides.get("seed", 42))
    run_dir = real_job(
        sweep,
        overrides,
        num,
        "forecast",
        test_mse=test_mse,
        test_mae=test_mse**0.5,
        noise_floor_mse=FLOOR,
        test_mse_ratio=test_mse / FLOOR,
        val_mse=2 * test_mse if val_mse is None else val_mse,
        epochs_trained=10 + seed,
        fit_seconds=1.5 * seed,
        n_params=100,
        metric_floor=FLOOR,
        # the baselines as the forecast report stores them: by name, as <name>_mse keys, and
        # their ratio to the floor
        baselines={name.removesuffix("_mse"): value for name, value in extra.items()},
        baseline_columns={
            name.removesuffix("_mse"): {"test_mse_ratio": value / FLOOR}
            for name, value in extra.items()
        },
        **extra,
    )
    with (run_dir / "history.csv").open("w") as f:
        f.write("epoch,train/loss,val/loss,lr\n")
        for epoch in range(1, 4):
            f.write(f"{epoch},{1 / epoch},{2 * test_mse / epoch},0.01\n")
    with (run_dir / "predictions.csv").open("w") as f:
        f.write("index,time,target,prediction\n")
        for i in range(5):
            f.write(f"{804 + i},{80.4 + 0.1 * i},{0.1 * i},{0.1 * i + test_mse}\n")
    return run_dir


# test MSE per (backbone, seed): numbers with different means and spreads
MSE = {
    ("rnn", 1): 0.013,
    ("rnn", 2): 0.015,
    ("rnn", 3): 0.017,
    ("gru", 1): 0.011,
    ("gru", 2): 0.0115,
    ("gru", 3): 0.0125,
}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """2 backbones x 3 seeds that finished, one failed job and one that never finished."""
    sweep = tmp_path / "multiruns" / "2026-01-01_00-00-00_000000"
    num = 0
    for backbone in ("rnn", "gru"):
        for seed in (1, 2, 3):
            fake_job(
                sweep,
                {"backbone": backbone, "seed": seed, "trainer.max_epochs": 30},
                num,
                MSE[backbone, seed],
                naive_last_mse=0.0178 + 1e-3 * seed,
                linear_ar_mse=0.0108,
            )
            num += 1
    fake_job(
        sweep,
        {"backbone": "lstm", "seed": 1, "trainer.max_epochs": 30},
        num,
        error="data.seq_len=5000 is too long for the series",
    )
    fake_job(sweep, {"backbone": "lstm", "seed": 2, "trainer.max_epochs": 30}, num + 1)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_one_row_per_backbone_with_mean_and_std_over_seeds(sweep):
    comparison = compare(sweep, make_plot=False)
    rows = {r["model"]: r for r in read_rows(sweep / "comparison.csv")}
    assert [r["kind"] for r in rows.values()] == ["model", "model", "baseline", "baseline"]
    for backbone in ("rnn", "gru"):
        row = rows[backbone]
        values = [MSE[backbone, s] for s in (1, 2, 3)]
        assert row["backbone"] == backbone and row["n_seeds"] == "3"
        assert float(row["test_mse_mean"]) == pytest.approx(statistics.fmean(values))
        assert float(row["test_mse_std"]) == pytest.approx(statistics.stdev(values))
        assert float(row["test_mse_ratio_mean"]) == pytest.approx(statistics.fmean(values) / FLOOR)
        assert float(row["test_mae_mean"]) == pytest.approx(
            statistics.fmean(v**0.5 for v in values)
        )
        assert float(row["epochs_trained_mean"]) == pytest.approx(12)
        assert float(row["fit_seconds_mean"]) == pytest.approx(3.0)
        assert float(row["n_params_mean"]) == 100
    assert rows["gru"]["best"] == "1" and rows["rnn"]["best"] == "0"
    # the constant override (trainer.max_epochs) does not become a column
    assert "trainer.max_epochs" not in rows["gru"]
    assert [p.name for p in comparison.written] == ["comparison.csv", "comparison.md"]


def test_baselines_become_rows_averaged_over_seeds(sweep):
    compare(sweep, make_plot=False)
    rows = {r["model"]: r for r in read_rows(sweep / "comparison.csv")}
    naive = rows["naive_last (baseline)"]
    assert float(naive["test_mse_mean"]) == pytest.approx(0.0178 + 2e-3)
    assert float(naive["test_mse_ratio_mean"]) == pytest.approx((0.0178 + 2e-3) / FLOOR)
    assert float(rows["linear_ar (baseline)"]["test_mse_mean"]) == pytest.approx(0.0108)
    assert naive["best"] == "0"


def test_without_baselines_there_are_no_baseline_rows(tmp_path):
    for num, seed in enumerate((1, 2)):
        fake_job(tmp_path, {"backbone": "gru", "seed": seed}, num, 0.01 * seed)
    comparison = compare(tmp_path, make_plot=False)
    assert [r.kind for r in comparison.rows] == ["model"]
    assert comparison.rows[0].label == "gru" and comparison.rows[0].best


def test_failed_and_unfinished_jobs_are_listed_not_dropped(sweep, capsys):
    assert main([str(sweep), "--no-plot"]) == 0
    out = capsys.readouterr().out
    md = (sweep / "comparison.md").read_text()
    for text in (out, md):
        assert "6 of 8 jobs finished" in text
        assert (
            "`backbone=lstm,seed=1,trainer.max_epochs=30`: failed: "
            "data.seq_len=5000 is too long for the series" in text
        )
        assert "`backbone=lstm,seed=2,trainer.max_epochs=30`: unfinished" in text
        assert "Traceback" not in text  # only the first line of error.txt
    assert "| ★ | gru | 3 |" in md
    assert {r["model"] for r in read_rows(sweep / "comparison.csv")} >= {"rnn", "gru"}


def test_rows_follow_every_swept_key_but_the_seed(tmp_path):
    num = 0
    for lr in ("0.01", "0.001"):
        for seed in (1, 2):
            fake_job(
                tmp_path,
                {"backbone": "gru", "model.optimizer.lr": lr, "seed": seed},
                num,
                float(lr) + 0.001 * seed,
            )
            num += 1
    comparison = aggregate(tmp_path)
    assert comparison.columns == ["model.optimizer.lr"]
    assert [r.label for r in comparison.rows] == ["lr=0.01", "lr=0.001"]  # launch order
    assert [len(r.seeds) for r in comparison.rows] == [2, 2]
    assert comparison.rows[1].best
    # a different key to average over: rows per seed instead
    by_seed = aggregate(tmp_path, seed_keys=("model.optimizer.lr",))
    assert [r.label for r in by_seed.rows] == ["seed=1", "seed=2"]


def test_optuna_best_params_are_shown(tmp_path):
    fake_job(tmp_path, {"0_backbone": "gru"}, 0, 0.012)
    results = {"name": "optuna", "best_params": {"model.optimizer.lr": 0.004}, "best_value": 0.021}
    (tmp_path / "optimization_results.yaml").write_text(yaml.safe_dump(results))
    md = markdown(aggregate(tmp_path))
    assert "best value: 0.021" in md and "`model.optimizer.lr`: 0.004" in md


def test_comparison_png_is_a_real_picture(sweep):
    png = compare(sweep).written[-1]
    assert png == sweep / "comparison.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 800
    assert pixels[..., :3].std() > 0.05  # not a blank canvas


def test_a_sweep_over_a_dated_series_draws_its_chart(sweep):
    # a CSV with a date column writes dates on the time axis of predictions.csv
    for pred in sweep.glob("*/predictions.csv"):
        rows = pred.read_text().splitlines()
        dated = [rows[0]] + [
            ",".join([r.split(",")[0], f"1958-{i + 1:02d}-01", *r.split(",")[2:]])
            for i, r in enumerate(rows[1:])
        ]
        pred.write_text("\n".join(dated) + "\n")
    png = compare(sweep).written[-1]
    assert png.name == "comparison.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors_are_one_line(tmp_path):
    missing = tmp_path / "nope"
    for argv, expected in (([str(missing)], "does not exist"), ([str(tmp_path)], "no run dir")):
        result = subprocess.run(
            [sys.executable, "-m", "rnnlab.report.compare", *argv],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and expected in result.stderr
        assert result.stderr.startswith("rnnlab-compare: error: ")


def test_cli_without_dir_takes_the_newest_sweep(tmp_path, monkeypatch):
    old = tmp_path / "train" / "multiruns" / "old"
    new = tmp_path / "train" / "multiruns" / "new"
    fake_job(old, {"seed": 1}, 0, 0.02)
    fake_job(new, {"seed": 1}, 0, 0.03)
    past = time.time() - 100
    os.utime(old, (past, past))
    monkeypatch.setenv("RNNLAB_LOG_DIR", str(tmp_path))
    assert latest_sweep() == new
    assert main(["--no-plot"]) == 0
    assert (new / "comparison.md").is_file() and not (new / "comparison.png").exists()


def test_a_sweep_where_nothing_finished_exits_1(tmp_path, capsys):
    fake_job(tmp_path, {"seed": 1}, 0, error="boom")
    assert main([str(tmp_path)]) == 1
    assert "`seed=1`: failed: boom" in capsys.readouterr().out


def _compose(*overrides: str):
    return compose_config(Path("unused"), overrides)


def test_sweep_configs_compose():
    cfg = _compose("experiment=compare_backbones")
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert dict(cfg.hydra.sweeper.params) == {"backbone": "scratch,rnn,lstm,gru", "seed": "1,2,3"}
    assert cfg.hydra.callbacks.sweep_report._target_ == "rnnlab.run.hydra_callbacks.SweepReport"
    assert "experiment" in cfg.hydra.job.config.override_dirname.exclude_keys

    cfg = _compose("hparams_search=optuna")
    sweeper = cfg.hydra.sweeper
    assert "optuna" in sweeper._target_ and sweeper.direction == "minimize"
    assert "TPESampler" in sweeper.sampler._target_
    tuned = {
        "backbone",
        "model.optimizer.lr",
        "model.backbone.hidden_size",
        "model.backbone.num_layers",
        "model.backbone.dropout",
    }
    assert set(sweeper.params) == tuned
    assert cfg.optimized_metric == "val_mse"  # never a test metric
    subdir = OmegaConf.to_container(cfg.hydra.sweep)["subdir"]  # unresolved: no job yet
    assert "hydra.job.num" in subdir  # trials that repeat parameters get their own dirs

    cfg = _compose("hydra/launcher=slurm", "hydra.launcher.partition=long")
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.partition == "long"
    assert launcher.cpus_per_task == 2 and threads_per_job(launcher) == 2
    assert threads_per_job(_compose("hydra/launcher=joblib").hydra.launcher) is None
    GlobalHydra.instance().clear()


def test_make_compare_target_runs_the_cli(sweep):
    result = subprocess.run(
        ["make", "-n", "compare", f"DIR={sweep}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert f"-m rnnlab.report.compare {sweep}" in result.stdout


def test_a_sweep_of_tasks_gets_one_table_per_metric_best_by_its_goal(tmp_path):
    num = 0
    for backbone, mse, accuracy in (("rnn", 0.15, 0.55), ("gru", 0.002, 0.9)):
        for seed in (1, 2):
            real_job(tmp_path, {"backbone": backbone, "data": "adding", "seed": seed}, num,
                     "regress", test_mse=mse * seed, solved=mse * seed < 0.01,
                     baselines={"memoryless": 1 / 6})  # fmt: skip
            real_job(tmp_path, {"backbone": backbone, "data": "vowels", "seed": seed}, num + 1,
                     "classify", test_accuracy=accuracy + 0.01 * seed,
                     baselines={"majority": 0.1, "nn1": 0.8})  # fmt: skip
            num += 2
    comparison = compare(tmp_path, make_plot=False)
    assert [(s.metric, s.goal, s.tasks) for s in comparison.sections] == [
        ("test_mse", "min", ["regress"]),
        ("test_accuracy", "max", ["classify"]),
    ]
    regress, classify = comparison.sections
    best = {s.metric: next(r.label for r in s.rows if r.best) for s in comparison.sections}
    assert best == {"test_mse": "gru, data=adding", "test_accuracy": "gru, data=vowels"}
    assert [r.label for r in classify.rows if r.kind == "baseline"] == [
        "majority (baseline, data=vowels)", "nn1 (baseline, data=vowels)"
    ]  # fmt: skip
    assert classify.rows[-1].stats["test_accuracy"] == (0.8, pytest.approx(math.nan, nan_ok=True))
    assert regress.columns[:3] == ["test_mse", "solved", "test_r2"]
    gru = next(r for r in regress.rows if r.label == "gru, data=adding")
    assert gru.counts["solved"] == "2/2" and gru.stats["test_mse"][0] == pytest.approx(0.003)
    md = markdown(comparison)
    assert "## test_mse (regress)" in md and "## test_accuracy (classify)" in md
    assert "★ = highest mean test_accuracy" in md and "★ = lowest mean test_mse" in md
    assert "| ★ | gru, data=vowels | 2 | 0.9150 ± 0.0635 |" in md  # t(0.975, 1) = 12.71
    rows = read_rows(tmp_path / "comparison.csv")
    assert {(r["model"], r["metric"]) for r in rows if r["kind"] == "model"} == {
        ("rnn, data=adding", "test_mse"), ("gru, data=adding", "test_mse"),
        ("rnn, data=vowels", "test_accuracy"), ("gru, data=vowels", "test_accuracy"),
    }  # fmt: skip


def test_a_memory_benchmark_crosses_backbone_and_seq_len_and_draws_the_axis(tmp_path):
    num = 0
    for backbone in ("rnn", "gru"):
        for seq_len in (100, 50):  # launch order is not the axis order
            for seed in (1, 2):
                mse = (0.16 if backbone == "rnn" else 0.001) * seq_len / 50 + 0.001 * seed
                real_job(tmp_path, {"backbone": backbone, "data.seq_len": seq_len, "seed": seed},
                         num, "regress", test_mse=mse, solved=mse < 0.01,
                         baselines={"memoryless": 1 / 6 + seq_len * 1e-5})  # fmt: skip
                num += 1
    (tmp_path / "multirun.yaml").write_text("hydra: {}\n")
    comparison = compare(tmp_path)
    (section,) = comparison.sections
    assert section.axis == "data.seq_len"
    md = markdown(comparison)
    table = md.split("| test_mse | seq_len=50 | seq_len=100 |")[1].split("\n\n")[0]
    assert "| gru | 0.002500 ± 0.006353 (2) | 0.003500 ± 0.006353 (2) |" in table
    assert "| memoryless (baseline) | 0.1672 | 0.1677 |" in table
    assert "| rnn | 0.1615 ± 0.0064 (2) |" in table
    png = tmp_path / "comparison.png"
    assert png in comparison.written
    import matplotlib.image

    assert matplotlib.image.imread(png)[..., :3].std() > 0.05


def test_finished_runs_without_a_metric_are_listed_not_ranked(tmp_path):
    real_job(tmp_path, {"seed": 1}, 0, "regress", test_mse=0.1)
    old = tmp_path / "seed=2"
    (old / ".hydra").mkdir(parents=True)
    (old / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["seed=2"]))
    (old / "metrics.json").write_text(json.dumps({"test_mse": 0.2}))
    comparison = compare(tmp_path, make_plot=False)
    assert [j.name for j in comparison.unranked] == ["seed=2"]
    assert [len(r.jobs) for r in comparison.rows if r.kind == "model"] == [1]
    assert "`seed=2`: metrics.json names no `metric`" in markdown(comparison)


def test_a_rate_sweep_reports_each_backbone_at_its_validation_chosen_rate(tmp_path):
    """backbone × lr × seed: test and validation disagree on the best rate; the table takes
    validation's, shows the paired difference to the best backbone, and draws the curve."""
    sweep = tmp_path / "rates"
    num = 0
    # (val, test) per (backbone, lr): lr 0.01 looks best on test, 0.001 on validation
    scores = {("gru", 0.001): (0.010, 0.020), ("gru", 0.01): (0.030, 0.011),
              ("rnn", 0.001): (0.012, 0.030), ("rnn", 0.01): (0.040, 0.012)}  # fmt: skip
    for (backbone, lr), (val, test) in scores.items():
        for seed in (1, 2, 3):
            fake_job(sweep, {"backbone": backbone, "model.optimizer.lr": lr, "seed": seed}, num,
                     test + 1e-4 * seed, val_mse=val + 1e-4 * seed)  # fmt: skip
            num += 1
    comparison = compare(sweep)
    (section,) = comparison.sections
    chosen = {c.backbone: c for c in section.rates}
    assert chosen["gru"].rate == chosen["rnn"].rate == 0.001  # never the test-best 0.01
    assert chosen["gru"].test.mean == pytest.approx(0.0202)
    assert chosen["gru"].verdict == "best" and chosen["rnn"].verdict == "loss"
    assert chosen["rnn"].difference.mean == pytest.approx(0.010)  # 0.030 - 0.020, every seed
    rows = read_rows(sweep / "comparison_rates.csv")
    assert {(r["backbone"], float(r["rate"]), r["verdict"]) for r in rows} == {
        ("gru", 0.001, "best"), ("rnn", 0.001, "loss")}  # fmt: skip
    text = (sweep / "comparison.md").read_text()
    assert "learning rate, chosen on val_mse" in text and "| rnn | 0.001 |" in text
    assert (sweep / "sensitivity.png").stat().st_size > 10_000
