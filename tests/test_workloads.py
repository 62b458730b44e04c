"""The memory tasks and sequence classification: generators, baselines, masks, labelled files,
config rules, and every backbone training every task (tiny settings)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rnnlab.data.labelled import DigitsDataModule, LabelledCsvDataModule, UcrDataModule
from rnnlab.data.memory import (
    IGNORE,
    AddingDataModule,
    CopyDataModule,
    SelectiveCopyDataModule,
    adding_problem,
    copy_memory,
    selective_copy,
)
from rnnlab.data.readers import read_long_csv, read_ts
from rnnlab.errors import ConfigError
from rnnlab.models.tasks.classify import Classifier
from rnnlab.models.tasks.shared import backbone_outputs, pool, takes_lengths
from rnnlab.run.build import build_data
from rnnlab.run.config import CONF_DIR
from rnnlab.run.train import train
from rnnlab.run.validation import validate_config

BACKBONES = sorted(p.stem for p in (CONF_DIR / "backbone").glob("*.yaml"))
SMALL_MEMORY = ["data.seq_len=12", "data.n_train=32", "data.n_val=16", "data.n_test=16"]


# --------------------------------------------------------------------------- generators


def test_adding_problem_marks_one_step_per_half_and_sums_them():
    x, y = adding_problem(500, 7, torch.Generator().manual_seed(0))
    assert x.shape == (500, 7, 2) and y.shape == (500, 1)
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert (markers.sum(1) == 2).all() and set(markers.unique().tolist()) == {0.0, 1.0}
    assert (markers[:, :3].sum(1) == 1).all() and (markers[:, 3:].sum(1) == 1).all()
    torch.testing.assert_close(y[:, 0], (values * markers).sum(1))
    # by hand: the second sequence
    first, second = torch.nonzero(markers[1])[:, 0].tolist()
    assert y[1, 0].item() == pytest.approx(values[1, first].item() + values[1, second].item())


def test_copy_memory_layout_by_hand():
    x, y = copy_memory(3, 5, torch.Generator().manual_seed(1), n_symbols=8, n_recall=4)
    blank, delimiter = 8, 9
    assert x.shape == y.shape == (3, 5 + 2 * 4)
    for row_x, row_y in zip(x.tolist(), y.tolist(), strict=True):
        symbols = row_x[:4]
        assert all(0 <= s < 8 for s in symbols)
        assert row_x[4:] == [blank] * 4 + [delimiter] + [blank] * 4  # T - 1 blanks, delimiter
        assert row_y == [blank] * (5 + 4) + symbols


def test_selective_copy_keeps_the_order_of_the_scattered_symbols():
    x, y = selective_copy(50, 20, torch.Generator().manual_seed(2), n_symbols=8, n_recall=5)
    blank, delimiter = 8, 9
    assert x.shape == y.shape == (50, 25)
    noise, markers = x[:, :20], x[:, 20:]
    assert (markers == delimiter).all() and ((noise < 8).sum(1) == 5).all()
    assert ((noise == blank) | (noise < 8)).all()
    assert (y[:, :20] == IGNORE).all()
    for row in range(50):
        torch.testing.assert_close(y[row, 20:], noise[row][noise[row] < 8])
    # the positions differ between sequences (a fixed delay line cannot solve it)
    assert len({tuple(torch.nonzero(r < 8)[:, 0].tolist()) for r in noise}) > 40


def test_each_split_depends_on_the_seed_alone():
    small = AddingDataModule(seq_len=10, n_train=10, n_val=20, n_test=30, seed=3)
    large = AddingDataModule(seq_len=10, n_train=400, n_val=20, n_test=30, seed=3)
    other = AddingDataModule(seq_len=10, n_train=10, n_val=20, n_test=30, seed=4)
    for dm in (small, large, other):
        dm.load()
    torch.testing.assert_close(small.sets["test"].inputs, large.sets["test"].inputs)
    torch.testing.assert_close(small.sets["val"].targets, large.sets["val"].targets)
    assert not torch.equal(small.sets["test"].inputs, other.sets["test"].inputs)
    assert not torch.equal(small.sets["train"].inputs, small.sets["test"].inputs[:10])


# --------------------------------------------------------------------------- baselines


def test_the_baselines_computed_from_the_generators_match_their_formulas():
    adding = AddingDataModule(seq_len=20, n_train=10, n_val=10, n_test=4000, seed=0)
    # Var(U1 + U2) = 2/12: predicting the mean 1 scores 1/6 (sd of the estimate ~ 0.002)
    assert adding.baselines()["memoryless"] == pytest.approx(1 / 6, abs=0.01)
    copy = CopyDataModule(seq_len=30, n_train=2000, n_val=10, n_test=2000, seed=0)
    scores = copy.memoryless_scores()
    assert copy.formula_ce() == pytest.approx(10 * math.log(8) / 50)
    assert scores["ce"] == pytest.approx(copy.formula_ce(), rel=0.01)
    assert scores["accuracy"] == pytest.approx(1 / 8, abs=0.015)
    selective = SelectiveCopyDataModule(seq_len=20, n_train=2000, n_val=10, n_test=2000, seed=0)
    scores = selective.memoryless_scores()
    assert scores["ce"] == pytest.approx(math.log(8), rel=0.01)  # only the recall steps count
    assert scores["accuracy"] == pytest.approx(1 / 8, abs=0.015)


def test_classification_baselines_by_hand(tmp_path):
    # two classes on one channel: "low" near 0, "high" near 10; one "high" test sequence sits
    # near the lows, so 1-NN gets 2 of 3 right; the majority of training is "low" (3 to 2)
    train = {
        "a": ("low", 0.0),
        "b": ("low", 0.2),
        "c": ("low", 0.1),
        "d": ("high", 10.0),
        "e": ("high", 9.0),
        "f": ("low", 0.3),
        "g": ("high", 9.5),
    }
    test = {"t1": ("low", 0.15), "t2": ("high", 9.8), "t3": ("high", 0.05)}
    lines = ["sequence,step,x,label,split"]
    for split, part in (("train", train), ("test", test)):
        for name, (label, value) in part.items():
            lines += [f"{name},{t},{value},{label},{split}" for t in range(3)]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    dm = LabelledCsvDataModule(path=str(tmp_path / "s.csv"), val_fraction=0.25, seed=0)
    dm.load()
    assert dm.class_names == ["high", "low"] and len(dm.sets["val"]) == 2  # one per class
    low_share = (dm.sets["train"].targets == 1).double().mean().item()
    assert low_share > 0.5
    assert dm.baselines() == {"majority": pytest.approx(1 / 3), "nn1": pytest.approx(2 / 3)}


# --------------------------------------------------------------------------- masks


def _directions() -> list[tuple[str, bool]]:
    """Every backbone forwards, and backwards too where it takes the sequence lengths (one
    that reads backwards without them is refused: the next test)."""
    cases = []
    for name in BACKBONES:
        cfg = OmegaConf.load(CONF_DIR / "backbone" / f"{name}.yaml")
        cases.append((name, False))
        if "bidirectional" in cfg and takes_lengths(instantiate(cfg)):
            cases.append((name, True))
    return cases


@pytest.mark.parametrize("name, bidirectional", _directions())
def test_padding_changes_nothing_at_the_real_steps(name, bidirectional):
    torch.manual_seed(0)
    cfg = OmegaConf.load(CONF_DIR / "backbone" / f"{name}.yaml")
    overrides = {"input_size": 3, "hidden_size": 4, "num_layers": 2}
    if bidirectional:
        overrides["bidirectional"] = True
    net = instantiate(OmegaConf.merge(cfg, overrides)).double().eval()
    lengths = torch.tensor([5, 9, 2])
    x = torch.randn(3, 9, 3, dtype=torch.double)
    for i, n in enumerate(lengths):
        x[i, n:] = 7.0  # whatever the padding holds
    out = backbone_outputs(net, x, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = net(x[i : i + 1, :n])[0]  # [n, H]
        torch.testing.assert_close(out[i, :n], alone, rtol=0, atol=1e-12)
        torch.testing.assert_close(pool(out, lengths)[i], alone[-1], rtol=0, atol=1e-12)
        torch.testing.assert_close(pool(out, lengths, "mean")[i], alone.mean(0), rtol=0, atol=1e-12)


def test_the_classic_backbones_read_backwards_from_each_sequences_last_step():
    assert {name for name, backwards in _directions() if backwards} >= {
        "scratch",
        "rnn",
        "lstm",
        "gru",
    }


def test_a_backbone_reading_backwards_without_lengths_is_refused_on_padded_batches():
    class Backwards(torch.nn.Module):
        directions, output_size = 2, 2

        def forward(self, x):
            return torch.cat((x, x.flip(1)), dim=-1)  # [B, L, 1] -> [B, L, 2]

    x = torch.zeros(2, 4, 1)
    assert backbone_outputs(Backwards(), x).shape == (2, 4, 2)  # equal lengths: fine
    with pytest.raises(ValueError, match="reads backwards but its forward\\(\\) takes no lengths"):
        backbone_outputs(Backwards(), x, torch.tensor([4, 2]))


def test_the_classifier_gives_a_padded_sequence_the_output_of_the_unpadded_one():
    from rnnlab.models.backbones import GRU

    torch.manual_seed(0)
    model = (
        Classifier(
            GRU(input_size=2, hidden_size=5, bidirectional=True), torch.optim.Adam, num_classes=3
        )
        .double()
        .eval()
    )
    x = torch.randn(2, 6, 2, dtype=torch.double)
    lengths = torch.tensor([6, 3])
    x[1, 3:] = -4.0
    torch.testing.assert_close(model(x, lengths)[1], model(x[1:, :3])[0], rtol=0, atol=1e-12)
    assert not torch.allclose(model(x)[1], model(x[1:, :3])[0])  # without the lengths it differs


# --------------------------------------------------------------------------- labelled files


def write(path: Path, *lines: str) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_long_csv_with_split_column_and_unequal_lengths(tmp_path):
    path = write(
        tmp_path / "s.csv",
        "sequence,step,a,b,label,split",
        "x,1,1,2,up,train",
        "x,0,0,1,up,train",  # rows out of order: step decides
        "y,0,5,5,down,train",
        "y,1,6,6,down,train",
        "y,2,7,7,down,train",
        "w,0,100,100,down,val",
        "z,0,1,1,up,test",
    )
    parts, channels = read_long_csv(path)
    assert channels == ["a", "b"] and sorted(parts) == ["test", "train", "val"]
    assert parts["train"].labels == ["up", "down"]
    torch.testing.assert_close(
        torch.tensor(parts["train"].sequences[0]),
        torch.tensor([[0.0, 1.0], [1.0, 2.0]], dtype=torch.double),
    )
    dm = LabelledCsvDataModule(path=path)
    dm.load()
    train, test = dm.sets["train"], dm.sets["test"]
    assert train.lengths.tolist() == [2, 3] and test.lengths.tolist() == [1]
    assert test.inputs.shape == (1, 3, 2)  # padded to the longest of all splits
    # channel a: the training steps 0, 1, 5, 6, 7 only (not the validation's 100)
    assert dm.channel_loc[0] == pytest.approx(3.8)
    assert dm.channel_scale[0] == pytest.approx(math.sqrt(111 / 5 - 3.8**2))
    assert test.inputs[0, 0, 0].item() == pytest.approx((1 - 3.8) / dm.channel_scale[0])
    assert test.inputs[0, 1:].abs().sum() == 0  # padding


@pytest.mark.parametrize(
    "lines, message",
    [
        (["sequence,step,a,split", "x,0,1,train"], "lacks the column 'label' (data.label_column)"),
        (
            ["sequence,step,a,label", "x,0,abc,u"],
            "column 'a' of s.csv: non-numeric value 'abc' on line 2",
        ),
        (
            ["sequence,step,a,label", "x,0,1,u", "x,1,,u"],
            "column 'a' of s.csv has 1 missing values (first on line 3)",
        ),
        (
            ["sequence,step,a,label", "x,0,1,u", "x,2,1,u"],
            "has a gap: no step between 0 (line 2) and 2 (line 3)",
        ),
        (["sequence,step,a,label", "x,0,1,u", "x,0,1,u"], "has step 0 twice (lines 2 and 3)"),
        (["sequence,step,a,label", "x,0,1,u", "x,1,1,v"], "has several labels: u, v"),
        (
            ["sequence,step,a,label,split", "x,0,1,u,train", "y,0,1,v,val", "z,0,2,w,test"],
            "label 'v' of the val split never occurs in training "
            "(sequence 'y' of s.csv (line 3)); training labels: u",
        ),
        (
            ["sequence,step,a,label,split", "x,0,1,u,train", "q,0,1,u,val", "z,0,2,w,test"],
            "label 'w' of the test split never occurs in training "
            "(sequence 'z' of s.csv (line 4)); training labels: u",
        ),
        (["sequence,step,a,label,split", "x,0,1,u,dev"], "holds 'dev'; allowed: train, val, test"),
    ],
    ids=[
        "missing-column",
        "non-numeric",
        "missing-value",
        "step-gap",
        "twice",
        "two-labels",
        "unseen-val-label",
        "unseen-test-label",
        "bad-split",
    ],
)
def test_bad_files_fail_with_one_line(tmp_path, lines, message):
    path = write(tmp_path / "s.csv", *lines)
    cfg = OmegaConf.create(
        {
            "_target_": "rnnlab.data.labelled.LabelledCsvDataModule",
            "path": path,
            "val_fraction": 0.5,
        }
    )
    with pytest.raises(ConfigError) as info:
        build_data(cfg)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_separate_files_per_split(tmp_path):
    train = write(
        tmp_path / "train.csv",
        "sequence,step,a,label",
        *[f"s{i},{t},{i % 2 + t},{'ab'[i % 2]}" for i in range(8) for t in range(3)],
    )
    test = write(tmp_path / "test.csv", "sequence,step,a,label", "q,0,1,a", "q,1,2,a")
    dm = LabelledCsvDataModule(train_path=train, test_path=test, val_fraction=0.25)
    dm.load()
    assert [len(dm.sets[s]) for s in ("train", "val", "test")] == [6, 2, 1]
    other = write(tmp_path / "other.csv", "sequence,step,b,label", "q,0,1,a")
    with pytest.raises(ValueError, match="other channels than the training file"):
        LabelledCsvDataModule(train_path=train, test_path=other).load()


def test_digits_rows_pixels_and_permuted_pixels():
    rows = DigitsDataModule(path="data/digits.csv.gz", order="rows", standardize=False)
    pixels = DigitsDataModule(path="data/digits.csv.gz", order="pixels", standardize=False)
    permuted = DigitsDataModule(path="data/digits.csv.gz", order="permuted", standardize=False)
    for dm in (rows, pixels, permuted):
        dm.load()
    assert rows.n_classes == 10 and sum(len(s) for s in rows.sets.values()) == 1797
    assert rows.sets["test"].inputs.shape[1:] == (8, 8)
    image = rows.sets["test"].inputs[0]  # [8 rows, 8 pixels]
    torch.testing.assert_close(pixels.sets["test"].inputs[0, :, 0], image.reshape(64))
    torch.testing.assert_close(
        permuted.sets["test"].inputs[0, :, 0],
        image.reshape(64)[torch.as_tensor(permuted.permutation)],
    )
    assert permuted.permutation.tolist() != list(range(64))


def test_japanese_vowels_keeps_its_lengths_and_original_split():
    dm = LabelledCsvDataModule(
        path="data/japanese_vowels.csv.gz", label_column="speaker", val_fraction=0.2
    )
    dm.load()
    sizes = {s: len(v) for s, v in dm.sets.items()}
    assert sizes["train"] + sizes["val"] == 270 and sizes["test"] == 370
    lengths = torch.cat([v.lengths for v in dm.sets.values()])
    assert (lengths.min().item(), lengths.max().item()) == (7, 29)
    assert dm.n_features == 12 and dm.class_names == [str(i) for i in range(1, 10)]


def test_ts_files_of_the_ucr_archives(tmp_path):
    folder = tmp_path / "Toy"
    folder.mkdir()
    body = ["@problemName Toy", "@classLabel true a b", "@data"]
    write(
        folder / "Toy_TRAIN.ts",
        *body,
        *[f"{i},{i + 1},{i + 2}:{i},0,0:{'ab'[i % 2]}" for i in range(10)],
    )
    write(folder / "Toy_TEST.ts", *body, "1,2,3:0,0,0:a", "9,9:1,1:b")
    case = read_ts(folder / "Toy_TEST.ts")
    assert case.labels == ["a", "b"] and case.sequences[1].shape == (2, 2)  # [L, dims]
    dm = UcrDataModule(name="Toy", root=str(tmp_path), val_fraction=0.2)
    dm.load()
    assert dm.n_features == 2 and dm.sets["test"].lengths.tolist() == [3, 2]
    with pytest.raises(FileNotFoundError, match="problems there: Toy"):
        UcrDataModule(name="Nope", root=str(tmp_path)).load()


def test_without_aeon_the_ucr_error_names_the_extra(monkeypatch):
    monkeypatch.setattr("rnnlab.data.labelled.aeon_data_dir", lambda: None)
    with pytest.raises(ConfigError, match=r"pip install 'rnnlab\[ucr\]'"):
        build_data(OmegaConf.create({"_target_": "rnnlab.data.labelled.UcrDataModule"}))


# --------------------------------------------------------------------------- config rules


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["data=copy", "model.backbone.bidirectional=true"],
            "model.backbone.bidirectional=true is invalid for task=copy: a recall task",
        ),
        (
            ["data=selective_copy", "model.backbone.bidirectional=true"],
            "is invalid for task=selective_copy",
        ),
        (
            ["data=digits", "task=forecast"],
            "task=forecast is invalid for DigitsDataModule: this data serves task=classify",
        ),
        (["task=classify"], "task=classify is invalid for SineDataModule"),
        (
            ["data=adding", "data.n_train=0"],
            "data.n_train=0 is invalid: it must be an integer >= 1",
        ),
    ],
)
def test_config_rules(make_cfg, overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        validate_config(make_cfg(*overrides))


def test_each_data_config_names_its_task(make_cfg):
    for data, target in (
        ("adding", "regress.Regressor"),
        ("copy", "copy.CopyModel"),
        ("selective_copy", "selective_copy.SelectiveCopyModel"),
        ("digits", "classify.Classifier"),
        ("japanese_vowels", "classify.Classifier"),
        ("ucr", "classify.Classifier"),
        ("sequences", "classify.Classifier"),
    ):
        cfg = make_cfg(f"data={data}")
        assert cfg.model._target_ == f"rnnlab.models.tasks.{target}", data


def test_a_bad_seq_len_for_selective_copy_is_one_line(make_cfg):
    cfg = make_cfg("data=selective_copy", "data.seq_len=8")
    with pytest.raises(ConfigError, match=r"data.seq_len=8 is too short for data.n_recall=16"):
        build_data(cfg.data)


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory) -> str:
    """Three classes of one-channel sequences of 3 to 5 steps."""
    lines = ["sequence,step,x,label"] + [
        f"s{i},{t},{(i % 3) * 0.5 + 0.1 * t},{'abc'[i % 3]}"
        for i in range(36)
        for t in range(3 + i % 3)
    ]
    return write(tmp_path_factory.mktemp("csv") / "seqs.csv", *lines)


TASKS = {
    "adding": ["data=adding", *SMALL_MEMORY],
    "copy": ["data=copy", *SMALL_MEMORY, "data.n_recall=3"],
    "selective_copy": ["data=selective_copy", *SMALL_MEMORY, "data.n_recall=3"],
    "sequences": ["data=sequences"],
}
# make_cfg's FAST overrides callbacks.progress_bar, so the group stays; the costly ones go.
TINY = ["trainer.max_epochs=2", "model.backbone.hidden_size=4", "logger=none",
        "callbacks.lr_monitor=null", "callbacks.figures=null"]  # fmt: skip


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_backbone_trains_every_task(make_cfg, labelled_csv, task, backbone):
    overrides = [*TINY, f"backbone={backbone}", *TASKS[task]]
    if task == "sequences":
        overrides.append(f"data.path={labelled_csv}")
    cfg = make_cfg(*overrides)
    validate_config(cfg)
    metrics = train(cfg)
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written == json.loads(json.dumps(metrics))
    assert math.isfinite(metrics[metrics["metric"]]) and metrics["baselines"]
    assert metrics["epochs_trained"] == 2


OWN_FIGURE = {"adding": "scatter", "copy": "recall", "selective_copy": "recall",
              "sequences": "confusion"}  # fmt: skip
PREDICTIONS_HEADER = {
    "adding": "sequence,target,prediction",
    "copy": "sequence,step,target,prediction",
    "selective_copy": "sequence,step,target,prediction",
    "sequences": "sequence,length,label,prediction,probability",
}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_figures_and_predictions_of_each_task_from_an_untrained_model(
    make_cfg, labelled_csv, task, tmp_path
):
    from rnnlab.run.build import build_model, build_report

    overrides = ["model.backbone.hidden_size=4", *TASKS[task]]
    if task == "sequences":
        overrides.append(f"data.path={labelled_csv}")
    cfg = make_cfg(*overrides)
    dm = build_data(cfg.data)
    model = build_model(cfg, dm)
    history = [{"epoch": 1, "train/loss": 1.0, "val/loss": 1.2}, {"epoch": 2, "train/loss": 0.5}]
    report = build_report(cfg)
    figures = report.figures(model, dm, history, window=-1)
    assert set(figures) == {"loss", OWN_FIGURE[task], "hidden_states"}
    for fig in figures.values():
        assert fig.axes and all(ax.has_data() or ax.images for ax in fig.axes[:1])
    report.write(model, dm, tmp_path)
    lines = (tmp_path / "predictions.csv").read_text().splitlines()
    assert lines[0] == PREDICTIONS_HEADER[task]
    n_recall = {"copy": 3, "selective_copy": 3}.get(task, 1)
    assert len(lines) == 1 + len(dm.sets["test"]) * n_recall


def test_a_run_draws_its_task_figures_and_eval_reproduces_its_numbers(make_cfg, tmp_path):
    from rnnlab.run.config import compose_config
    from rnnlab.run.eval import evaluate

    cfg = make_cfg(*TASKS["copy"], "trainer.max_epochs=1", "model.backbone.hidden_size=4",
                   "logger=csv", "callbacks.figures.dpi=30")  # fmt: skip
    train(cfg)
    run = Path(cfg.paths.output_dir)
    assert {p.stem for p in (run / "plots").glob("*.png")} == {"loss", "recall", "hidden_states"}
    assert (run / "predictions.csv").read_text().startswith(PREDICTIONS_HEADER["copy"])
    trained = json.loads((run / "metrics.json").read_text())
    ckpt = run / "checkpoints" / "last.ckpt"
    ev = compose_config(tmp_path / "eval", [f"ckpt_path={ckpt}", "accelerator=cpu",
                                            "figures=false"], "eval")  # fmt: skip
    tested = evaluate(ev)
    assert tested["metric"] == "test_ce" and tested["test_ce"] == trained["test_ce"]
    assert tested["baselines"] == trained["baselines"]
