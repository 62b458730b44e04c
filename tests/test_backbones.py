"""One contract for every backbone, plus the scratch cell against torch's nn.RNN."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from rnnlab.models.backbones import ElmanRNN

BACKBONE_DIR = Path(__file__).resolve().parents[1] / "conf" / "backbone"
BACKBONES = sorted(p.stem for p in BACKBONE_DIR.glob("*.yaml"))


def build(name: str, **overrides) -> nn.Module:
    cfg = OmegaConf.load(BACKBONE_DIR / f"{name}.yaml")
    return instantiate(OmegaConf.merge(cfg, overrides))


def test_the_four_backbones_ship():
    assert set(BACKBONES) >= {"scratch", "rnn", "lstm", "gru"}


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"num_layers": 2, "dropout": 0.2},
        {"bidirectional": True},
        {"num_layers": 2, "bidirectional": True},
    ],
    ids=["1layer", "2layers-dropout", "bidirectional", "2layers-bidirectional"],
)
def test_backbone_contract(name, kwargs):
    torch.manual_seed(0)
    net = build(name, hidden_size=8, **kwargs)
    directions = 2 if kwargs.get("bidirectional") else 1
    assert net.output_size == 8 * directions
    x = torch.randn(5, 11, 1, requires_grad=True)
    out = net(x)
    assert out.shape == (5, 11, 8 * directions)  # [B, L, 1] -> [B, L, H × directions]
    out[:, -1].sum().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum().item() for g in grads) > 0
    assert x.grad.abs().sum() > 0
    net.eval()  # determinism: no dropout, same output twice
    torch.testing.assert_close(net(x), net(x))


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_scratch_reproduces_nn_rnn_with_copied_weights(num_layers, bidirectional):
    torch.manual_seed(1)
    ref = nn.RNN(1, 16, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    mine = ElmanRNN(1, 16, num_layers=num_layers, bidirectional=bidirectional).load_from_torch(ref)
    x = torch.randn(4, 20, 1)
    expected, _ = ref(x)
    torch.testing.assert_close(mine(x), expected, atol=1e-5, rtol=1e-5)


def test_scratch_gradients_match_nn_rnn():
    torch.manual_seed(2)
    ref = nn.RNN(1, 8, num_layers=2, batch_first=True)
    mine = ElmanRNN(1, 8, num_layers=2).load_from_torch(ref)
    x = torch.randn(3, 9, 1)
    ref(x)[0][:, -1].pow(2).sum().backward()
    mine(x)[:, -1].pow(2).sum().backward()
    torch.testing.assert_close(mine.W_hh[1].grad, ref.weight_hh_l1.grad.T, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(mine.W_xh[0].grad, ref.weight_ih_l0.grad.T, atol=1e-5, rtol=1e-4)


def test_scratch_is_initialised_like_nn_rnn_not_standard_normal():
    torch.manual_seed(3)
    net = ElmanRNN(1, 32)
    bound = 1 / math.sqrt(32)
    for w in (net.W_xh[0], net.W_hh[0]):
        assert w.abs().max().item() <= bound
    assert net.W_hh[0].std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)  # U(-b, b)
    assert net.b_h[0].abs().max().item() <= 2 * bound
    # A stable recurrence at init: spectral radius about 0.58 (std-1 normal weights give ~5.7).
    radius = torch.linalg.eigvals(net.W_hh[0].detach()).abs().max().item()
    assert radius < 1


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_backbone_recipe() -> tuple[dict[str, str], list[str]]:
    """The README's own-backbone recipe as written there: ``{file name: text}`` for the two
    files its prose names (in the order of its Python and YAML blocks), and the overrides of
    its first ``python train.py`` command."""
    import re
    import shlex

    section = README.read_text().split("## Your own backbone", 1)[1].split("\n## ", 1)[0]
    blocks = dict(re.findall(r"```(python|yaml)\n(.*?)```", section, flags=re.DOTALL))
    (module_file,) = re.findall(r"write `([\w/.-]+\.py)`", section)
    (yaml_file,) = re.findall(r"`([\w/.-]+\.yaml)`", section)
    command = next(line for line in section.splitlines() if line.startswith("python train.py"))
    files = {module_file: blocks["python"], yaml_file: blocks["yaml"]}
    return files, shlex.split(command)[2:]


def test_a_new_backbone_is_one_class_and_one_yaml(tmp_path, monkeypatch, fast):
    """The README's recipe, read from the README: the user's module and config directory
    outside the package, found through hydra.searchpath; no edit to the project."""
    from rnnlab.run.config import compose_config
    from rnnlab.run.train import train

    files, overrides = readme_backbone_recipe()
    # The user's own directory is the working directory and on the import path (as the
    # directory of train.py is, or through PYTHONPATH); the relative search path starts there.
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (choice,) = (o.split("=", 1)[1] for o in overrides if o.startswith("backbone="))
    assert not (BACKBONE_DIR / f"{choice}.yaml").exists()  # not a shipped option

    metrics = train(compose_config(tmp_path / "run", [*fast, *overrides]))
    assert metrics["backbone"] == choice
    assert (tmp_path / "run" / "metrics.json").is_file()
    user = OmegaConf.create(next(t for n, t in files.items() if n.endswith(".yaml")))
    h, k, f = user.hidden_size, user.kernel_size, user.input_size
    # conv weights + bias, head + bias, the AR highway over the 20-step window + bias
    assert metrics["n_params"] == f * h * k + h + h + 1 + 20 * f + 1
