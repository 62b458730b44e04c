"""task=anomaly: metrics checked against aeon, a random score's PR-AUC, a threshold that never
reads test labels, injected anomalies where their labels say, the UCR file names, bad input,
and a labelled CSV trained end to end with both scorers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from aeon.benchmarking.metrics import anomaly_detection as aeon

from rnnlab.data.anomalies import (
    KINDS,
    AnomalyFileDataModule,
    SineAnomaliesDataModule,
    check_labels,
    parse_ucr_name,
)
from rnnlab.data.sine import sine_series
from rnnlab.errors import ConfigError
from rnnlab.models.tasks.anomaly import cover_mean, scan
from rnnlab.report.tasks import anomaly as report
from rnnlab.run.build import build_data, build_model
from rnnlab.run.train import train


# ----------------------------------------------------------------------------- metrics
def test_metrics_on_hand_made_arrays_match_aeon_and_counting():
    labels = np.array([0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0])
    score = np.array([0.1, 0.5, 0.9, 0.2, 0.7, 0.3, 0.05, 0.6, 0.8, 0.0, 0.15, 0.4])
    flagged = score > 0.55  # points 2, 4, 7, 8
    got = report.detection_metrics(labels, score, flagged, vus_buffer=4)
    assert got["pr_auc"] == pytest.approx(aeon.pr_auc_score(labels, score))
    assert got["roc_auc"] == pytest.approx(aeon.roc_auc_score(labels, score))
    assert got["vus_pr"] == pytest.approx(aeon.range_pr_vus_score(labels, score, 4))
    assert got["range_f1"] == pytest.approx(aeon.range_f_score(labels, flagged.astype(int)))
    # by hand: 3 of the 4 flagged points are anomalous, 3 of the 4 anomalous points flagged
    assert got["point_f1"] == pytest.approx(0.75)
    # point adjusted: the range 2-4 counts whole, so 4 of 5 flagged, 4 of 4 found
    assert got["pa_f1"] == pytest.approx(2 * 0.8 * 1.0 / 1.8)
    assert got["top1_hit"] is None  # two anomalies: the UCR rule is for series with one
    # ROC-AUC by hand: of the 4 x 8 (anomalous, normal) pairs, those ranked right
    right = sum(a > n for a in score[labels == 1] for n in score[labels == 0])
    assert got["roc_auc"] == pytest.approx(right / 32)


def test_the_ucr_rule_counts_within_the_margin_only():
    labels = np.zeros(1000, dtype=int)
    labels[500:512] = 1  # 12 points: the margin is max(12, 100) = 100
    for top, hit in ((399, False), (400, True), (611, True), (612, False)):
        score = np.zeros(1000)
        score[top] = 1.0
        assert report.top1_hit(score, labels) is hit, top
    labels[800:805] = 1  # a second anomaly: the rule no longer applies
    assert report.top1_hit(score, labels) is None


def test_a_random_score_has_a_pr_auc_near_the_anomaly_rate():
    rng = np.random.default_rng(3)
    labels = np.zeros(20_000, dtype=int)
    for start in rng.choice(19_900, 40, replace=False):
        labels[start : start + 25] = 1
    rate = labels.mean()
    got = report.ranking_metrics(labels, rng.random(len(labels)), None)
    assert abs(got["pr_auc"] - rate) < 0.01 and abs(got["roc_auc"] - 0.5) < 0.02


def test_pr_auc_per_kind_leaves_the_other_kinds_and_their_surroundings_out():
    from types import SimpleNamespace

    from rnnlab.data.anomalies import Anomaly

    labels = torch.zeros(200, dtype=torch.int64)
    anomalies = (Anomaly(50, 51, "spike"), Anomaly(120, 140, "flat"))
    for a in anomalies:
        labels[a.start : a.stop] = 1
    frame = SimpleNamespace(seq_len=10, n_points=200)
    lf = SimpleNamespace(labels=labels, anomalies=anomalies, frame=frame, kinds=["spike", "flat"])
    score = np.zeros(200)
    score[120:140] = 2.0  # the flat stretch found
    score[51:58] = 5.0  # the spike's echo in the windows after it, above everything
    score[50] = 1.0
    got = report.per_kind(lf, torch.arange(200), score)
    assert got["flat"] == pytest.approx(1.0)  # the spike's echo lies within its reach
    # the spike itself ranks below its 7 echo points: precision 1/8 at its recall
    assert got["spike"] == pytest.approx(aeon.pr_auc_score(labels[:100].numpy(), score[:100]))
    assert got["spike"] < 0.2


def test_undefined_metrics_are_none_without_an_anomaly():
    got = report.detection_metrics(np.zeros(50, int), np.arange(50.0), np.zeros(50, bool), 10)
    assert got["pr_auc"] is None and got["roc_auc"] is None and got["point_f1"] is None


def test_scores_cover_and_scan():
    errors = torch.tensor([[1.0, 2.0, 3.0], [5.0, 6.0, 7.0]])  # windows at 0 and 2
    covered = cover_mean(errors, torch.tensor([0, 2]), 6)
    assert covered[:5].tolist() == [1.0, 2.0, 4.0, 6.0, 7.0] and covered[5].isnan()
    flat = torch.zeros(9)
    spike = flat.clone()
    spike[4] = 9.0
    assert scan(spike, 1, 0.0, 1.0).tolist() == spike.tolist()
    windowed = scan(spike, 3, 0.0, 1.0)
    assert windowed[4] == 9.0  # the spike keeps its own peak
    assert windowed[3] == pytest.approx(9.0 / 3**0.5)  # its neighbours see it summed
    long = torch.ones(9)  # errors of 1 everywhere, normal errors of mean 0, std 1
    assert scan(long, 9, 0.0, 1.0)[4] == pytest.approx(3.0)  # 9 / sqrt(9)


def test_the_aeon_baselines_leave_torch_on_its_thread_count():
    # numba's OpenMP layer (STOMP) resets the thread count torch shares; the guard puts it back
    before = torch.get_num_threads()
    with report.torch_threads_kept():
        torch.set_num_threads(before + 1)  # what numba's parallel code does to torch
    assert torch.get_num_threads() == before


# ----------------------------------------------------------------------------- data
def small_sine(**kwargs) -> SineAnomaliesDataModule:
    settings = dict(sample_size=1500, t_max=150.0, seq_len=16, seed=5, count=2, length=20,
                    val_fraction=0.2, batch_size=32)  # fmt: skip
    return SineAnomaliesDataModule(**{**settings, **kwargs})


@pytest.mark.parametrize("kind", KINDS)
def test_injected_anomalies_sit_exactly_where_the_labels_say(kind):
    dm = small_sine(kinds=kind)
    dm.load()
    clean = sine_series(1500, 150.0, 1.0, 0.1, 5).double()  # the same wave and noise
    values = dm.series.double()
    labels = dm.labels.numpy()
    assert len(dm.anomalies) == 2 and all(a.kind == kind for a in dm.anomalies)
    assert labels.sum() == sum(a.stop - a.start for a in dm.anomalies)
    changed = (values - clean).abs().numpy() > 1e-6
    first = dm.anomalies[0].start
    assert first >= dm.train_end and not changed[:first].any()  # the training part is clean
    for a in dm.anomalies:
        assert labels[a.start : a.stop].all() and changed[a.start : a.stop].all()
    if kind != "frequency":  # the faster wave leaves its phase behind: later points move
        assert (changed == (labels == 1)).all()
    if kind in ("frequency", "flat"):  # inside the normal range: only context shows them
        train = values[: dm.train_end]
        inside = values[torch.from_numpy(labels == 1)]
        assert inside.min() >= train.min() and inside.max() <= train.max()


def test_contaminate_labels_anomalies_in_the_training_part_and_leaves_their_windows_out(caplog):
    dm = small_sine(kinds="level_shift", contaminate=True)
    dm.load()
    inside = int(dm.labels[: dm.train_end].sum())
    assert inside == 2 * 20 and f"{inside} labelled anomalous points" in caplog.text
    dm.setup()
    x, _ = dm.datasets["train"].all
    train = dm.splits["train"]
    assert len(x) < train.n_windows  # the touched windows are gone
    kept = dm.keep["train"] + train.start
    rows = kept[:, None] + torch.arange(dm.seq_len + 1)
    assert dm.labels[rows].sum() == 0


def test_ucr_file_names_are_parsed_and_read_as_aeon_labels_file_135(tmp_path):
    assert parse_ucr_name("135_UCR_Anomaly_InternalBleeding16_1200_4187_4199.txt") == (
        135, "InternalBleeding16", 1200, 4187, 4199,
    )  # fmt: skip
    assert parse_ucr_name("dir/001_UCR_Anomaly_DISTORTED1sddb40_35000_52000_52620.txt")[2:] == (
        35000, 52000, 52620,
    )  # fmt: skip
    for bad in ("135_UCR_Anomaly_x_1200_4187.txt", "135_UCR_Anomaly_x_5000_4187_4199.txt"):
        with pytest.raises(ValueError):
            parse_ucr_name(bad)
    shipped = AnomalyFileDataModule(seq_len=20)  # aeon's TimeEval copy of file 135
    shipped.load()
    with shipped.find()[0].open() as f:
        values = [row["value"] for row in csv.DictReader(f)]
    name = tmp_path / "135_UCR_Anomaly_InternalBleeding16_1200_4187_4199.txt"
    name.write_text("\n".join(values) + "\n")
    archive = AnomalyFileDataModule(root=str(tmp_path), number=135, seq_len=20)
    archive.load()
    assert archive.train_end == shipped.train_end == 1200
    assert torch.equal(archive.labels, shipped.labels)
    assert archive.anomalies[0].start == 4187 and archive.anomalies[0].stop == 4199
    assert torch.equal(archive.series, shipped.series)


@pytest.mark.parametrize(
    ("content", "settings", "fragments"),
    [
        ("v,lab\n" + "1,0\n2,2\n" * 30, {"label": "lab"}, ["data.label='lab' must hold 0", "2"]),
        ("v,lab\n" + "1,0\n2,1\n" * 4, {"label": "lab", "train_end": 5}, ["data.train_end=5"]),
        ("v\n" + "1\n2\n" * 4, {"train_end": 6, "seq_len": 10}, ["shorter than one window"]),
        ("v,lab\n" + "1,0\n2,0\n" * 40, {"label": "lab", "train_on": "some"}, ["data.train_on"]),
    ],
)
def test_bad_labelled_input_gets_one_line(tmp_path, content, settings, fragments):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    settings = {"seq_len": 4, **settings}
    from rnnlab.data.csv import CsvDataModule

    with pytest.raises(ValueError) as info:
        CsvDataModule(path=str(path), target="v", **settings).setup()
    assert "\n" not in str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    with pytest.raises(ValueError):
        check_labels(np.array([0.0, 0.5]), "data.label")


# ----------------------------------------------------------------------------- the threshold
def test_the_threshold_never_reads_test_labels(make_cfg):
    cfg = make_cfg("data=sine_anomalies", "data.sample_size=1500", "data.t_max=150",
                   "data.length=20", "data.seq_len=16", "model.backbone.hidden_size=8",
                   "model.smooth=5", "report.aeon_baselines=false")  # fmt: skip
    dm = build_data(cfg.data)
    model = build_model(cfg, dm)  # untrained: its scores are still scores
    first = report.AnomalyReport(vus_buffer=5, aeon_baselines=False).detect(model, dm)
    test = dm.labelled_frame().scored
    labels = dm.labels[test].numpy()
    # F1 at every threshold: had the test labels chosen it, it would sit elsewhere
    best = max(np.unique(first.scores.test.numpy()),
               key=lambda t: report.f1(labels, first.scores.test.numpy() >= t))  # fmt: skip
    assert best != pytest.approx(first.threshold)
    dm.labels[test] = 1 - dm.labels[test]  # every test label flipped
    second = report.AnomalyReport(vus_buffer=5, aeon_baselines=False).detect(model, dm)
    assert second.threshold == first.threshold
    assert (second.flagged == first.flagged).all()
    assert second.metrics["pr_auc"] != first.metrics["pr_auc"]  # the metrics do read them
    val = first.scores.val.double()
    assert first.threshold == pytest.approx(float(torch.quantile(val, 0.99)))


# ----------------------------------------------------------------------------- end to end
def labelled_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(700)
    value = np.sin(2 * np.pi * t / 25) + 0.05 * rng.normal(size=700)
    label = np.zeros(700, dtype=int)
    value[520:530] += 1.5  # a shifted stretch in the test part
    label[520:530] = 1
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "value", "is_anomaly"])
        writer.writerows(zip(t, value, label, strict=True))
    return path


@pytest.mark.parametrize("scorer", ["forecast", "reconstruct"])
def test_a_labelled_csv_trains_scores_and_reports(make_cfg, tmp_path, scorer):
    path = labelled_csv(tmp_path / "labelled.csv")
    cfg = make_cfg("task=anomaly", "data=csv", f"data.path={path}", "data.target=value",
                   "data.label=is_anomaly", "data.train_end=400", "data.seq_len=12",
                   f"model.scorer={scorer}", "model.smooth=5", "model.backbone.hidden_size=8",
                   "report.aeon_baselines=false", "report.vus_buffer=5", "logger=csv")  # fmt: skip
    metrics = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert metrics["metric"] == "test_pr_auc" and metrics["metric_goal"] == "max"
    assert 0.0 <= metrics["test_pr_auc"] <= 1.0 and metrics["n_scored"] == 300
    assert set(metrics["baselines"]) == {"ar_residual", "step_change", "rolling_z", "random"}
    assert metrics["baselines"]["random"] < 0.1 < metrics["baselines"]["step_change"]
    with (run_dir / report.ANOMALIES_CSV).open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["index"]) for r in rows] == list(range(400, 700))
    assert sum(int(r["label"]) for r in rows) == 10
    assert sum(int(r["flagged"]) for r in rows) == metrics["n_flagged"]
    assert (run_dir / "plots" / "anomalies.png").is_file()
    on_disk = json.loads((run_dir / "metrics.json").read_text())
    assert on_disk["random_pa_f1"] is not None and "test_pa_f1" in on_disk
    torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)


def test_an_unlabelled_test_part_still_writes_scores(make_cfg, tmp_path, caplog):
    path = labelled_csv(tmp_path / "labelled.csv")
    path.write_text(path.read_text().replace(",1\n", ",0\n"))  # no anomaly left
    cfg = make_cfg("task=anomaly", "data=csv", f"data.path={path}", "data.target=value",
                   "data.label=is_anomaly", "data.train_end=400", "data.seq_len=12",
                   "model.backbone.hidden_size=8", "report.aeon_baselines=false",
                   "report.vus_buffer=5", "callbacks.figures=null", "logger=none")  # fmt: skip
    metrics = train(cfg)
    assert metrics["test_pr_auc"] is None and "undefined" in metrics["metrics_note"]
    assert "holds no labelled anomaly" in caplog.text
    assert (Path(cfg.paths.output_dir) / report.ANOMALIES_CSV).is_file()


def test_a_bad_setting_is_one_config_line(make_cfg):
    from rnnlab.run.validation import validate_config

    cfg = make_cfg("data=sine_anomalies", "model.scorer=rebuild")
    with pytest.raises(ConfigError, match=r"model\.scorer='rebuild' is invalid"):
        validate_config(cfg)
