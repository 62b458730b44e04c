"""minGRU, minLSTM and the LRU, in their residual blocks and bare: parallel and sequential forms
agree, the blocks hold their parts, and equal-size fitting."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnlab.errors import ConfigError
from rnnlab.models.blocks import BLOCKS, LRUBlock, MinimalBlock
from rnnlab.models.lru import LRU, LRULayer
from rnnlab.models.mingru import MinGRU, g, log_g
from rnnlab.models.minlstm import MinLSTM
from rnnlab.models.scan import (
    pick_mode,
    scan_chunked,
    scan_log,
    scan_reference,
    scan_sequential,
)
from rnnlab.models.sizing import count_parameters, fit_hidden_size

TOL = 1e-10  # float64, max abs difference
FORMS = {
    "mingru-chunked": lambda **kw: MinGRU(scan="chunked", **kw),
    "mingru-log": lambda **kw: MinGRU(scan="log", **kw),
    "minlstm-chunked": lambda **kw: MinLSTM(scan="chunked", **kw),
    "minlstm-log": lambda **kw: MinLSTM(scan="log", **kw),
    "lru": lambda **kw: LRU(**kw),
}


def _in_block(make, block: str):
    return lambda **kw: make(block=block, **kw)


# Every cell and parallel form, in its residual block ("-residual") and bare ("-bare").
CELLS = {
    f"{name}-{block}": _in_block(make, block) for name, make in FORMS.items() for block in BLOCKS
}


def initial_state(net: nn.Module, batch: int, generator: torch.Generator) -> torch.Tensor:
    """A random state per layer and direction, complex for the LRU."""
    layers = net.num_layers * net.directions
    size = getattr(net, "state_size", net.hidden_size)
    h0 = torch.randn(layers, batch, size, dtype=torch.float64, generator=generator)
    if isinstance(net, LRU):
        h0 = torch.complex(h0, torch.randn(h0.shape, dtype=torch.float64, generator=generator))
    return h0.requires_grad_()


def run_mode(net: nn.Module, mode: str, x: torch.Tensor, h0: torch.Tensor | None) -> list:
    """Outputs, final states, and gradients of a loss that reads both."""
    net.mode = mode
    out, h_n = net.forward_with_state(x, h0)
    loss = out.sin().sum() + h_n.abs().pow(2).sum()
    inputs = [x, *net.parameters()] + ([h0] if h0 is not None else [])
    return [out, h_n, *torch.autograd.grad(loss, inputs)]


def max_difference(first: list, second: list) -> float:
    return max((a - b).abs().max().item() for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize(
    ("length", "batch", "layers", "bidirectional", "given_state"),
    [
        (1, 1, 1, False, False),
        (7, 3, 2, False, True),
        (50, 2, 1, True, True),
        (129, 4, 3, False, True),
    ],
)
def test_parallel_and_sequential_agree_in_float64(
    cell, length, batch, layers, bidirectional, given_state
):
    gen = torch.Generator().manual_seed(length)
    torch.manual_seed(length)
    net = CELLS[cell](input_size=3, hidden_size=5, num_layers=layers, bidirectional=bidirectional)
    net = net.double()
    x = torch.randn(batch, length, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    h0 = initial_state(net, batch, gen) if given_state else None
    parallel = run_mode(net, "parallel", x, h0)
    sequential = run_mode(net, "sequential", x, h0)
    assert max_difference(parallel, sequential) <= TOL
    assert parallel[0].shape == (batch, length, 5 * (2 if bidirectional else 1))
    assert sum(t.abs().sum().item() for t in parallel[2:]) > 0  # gradients flow


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("invariant", [False, True])
@pytest.mark.parametrize("chunk", [1, 3, 4, 64])
def test_every_scan_matches_the_textbook_loop(complex_, invariant, chunk):
    gen = torch.Generator().manual_seed(chunk)
    dtype = torch.complex128 if complex_ else torch.float64
    shape_a = (1, 1, 4) if invariant else (2, 10, 4)
    a = (0.98 * torch.rand(shape_a, dtype=torch.float64, generator=gen)).to(dtype)
    b = torch.rand(2, 10, 4, dtype=torch.float64, generator=gen).to(dtype) + 0.1
    h0 = torch.randn(2, 4, dtype=torch.float64, generator=gen).to(dtype)
    tensors = [t.requires_grad_() for t in (a, b, h0)]
    forms = {
        "reference": lambda: scan_reference(a, b, h0),
        "sequential": lambda: scan_sequential(a, b, h0),
        "chunked": lambda: scan_chunked(a, b, h0, chunk=chunk),
    }
    if not complex_:  # the log-space scan needs b > 0: real inputs only
        forms["log"] = lambda: scan_log(torch.log(a), torch.log(b), h0)
    results = {}
    for name, form in forms.items():
        h = form()
        loss = (h * torch.linspace(0.5, 2.0, 10, dtype=torch.float64).view(1, 10, 1)).abs().sum()
        results[name] = [h, *torch.autograd.grad(loss, tensors)]
    for name, result in results.items():
        assert max_difference(result, results["reference"]) <= TOL, name


def test_hand_written_backward_passes_gradcheck():
    gen = torch.Generator().manual_seed(0)
    for dtype, shape_a in [(torch.float64, (2, 6, 3)), (torch.complex128, (1, 1, 3))]:
        a = (0.9 * torch.rand(shape_a, dtype=torch.float64, generator=gen)).to(dtype)
        b = torch.randn(2, 6, 3, dtype=torch.float64, generator=gen).to(dtype)
        h0 = torch.randn(2, 3, dtype=torch.float64, generator=gen).to(dtype)
        args = tuple(t.requires_grad_() for t in (a, b, h0))
        assert torch.autograd.gradcheck(scan_sequential, args)
        assert torch.autograd.gradcheck(lambda *t: scan_chunked(*t, chunk=4), args)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("mode", ["parallel", "sequential"])
def test_a_sequence_continues_from_its_final_state(cell, mode):
    torch.manual_seed(1)
    net = CELLS[cell](input_size=2, hidden_size=4, num_layers=2, mode=mode).double()
    x = torch.randn(3, 20, 2, dtype=torch.float64)
    whole, h_whole = net.forward_with_state(x)
    first, h_first = net.forward_with_state(x[:, :13])
    rest, h_rest = net.forward_with_state(x[:, 13:], h_first)
    assert max_difference([torch.cat([first, rest], 1), h_rest], [whole, h_whole]) <= TOL


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_4096_steps_stay_finite_in_both_modes(cell):
    torch.manual_seed(2)
    net = CELLS[cell](input_size=1, hidden_size=4)
    x = 3 * torch.randn(2, 4096, 1, requires_grad=True)  # float32, as trained
    outs = {}
    for mode in ("parallel", "sequential"):
        net.mode = mode
        out = net(x)
        (grad,) = torch.autograd.grad(out[:, -1].sum() + out.mean(), x)
        assert torch.isfinite(out).all() and torch.isfinite(grad).all(), mode
        outs[mode] = out
    # float32 over 4096 steps: the two forms still agree closely.
    torch.testing.assert_close(outs["parallel"], outs["sequential"], atol=1e-3, rtol=1e-3)


def test_auto_mode_follows_pick_mode():
    for net, numbers in ((MinGRU(1, 4), 4), (LRU(1, 4, state_size=6), 12)):
        for batch, length in ((1, 20), (2, 1000), (200, 1000), (1, 5000)):
            x = torch.zeros(batch, length, 1)
            assert net.resolved_mode(x) == pick_mode(x.device, length, batch * numbers)
    cpu = torch.device("cpu")
    assert pick_mode(cpu, 1000, 64 * 128) == "sequential"  # training sizes: the step loop
    assert pick_mode(cpu, 1000, 32) == "parallel"  # one narrow sequence: the scan
    assert pick_mode(cpu, 20, 32) == "sequential"
    assert pick_mode(torch.device("cuda"), 1000, 64 * 128) == "parallel"  # assumed for GPUs
    net = MinGRU(1, 4, mode="sequential")
    assert net.resolved_mode(torch.zeros(1, 5000, 1)) == "sequential"


def test_g_is_the_papers_piecewise_function_and_log_g_its_log():
    v = torch.linspace(-40, 40, 8001, dtype=torch.float64)
    expected = torch.where(v >= 0, v + 0.5, torch.sigmoid(v))
    torch.testing.assert_close(g(v), expected, atol=0, rtol=1e-15)
    torch.testing.assert_close(log_g(v), torch.log(expected), atol=1e-12, rtol=1e-12)


def minimal_block_count(f: int, h: int, k: int, layers: int = 1, m: int = 4) -> int:
    """minGRU (k = 2) or minLSTM (k = 3) in residual blocks: the input projection, per layer
    two RMSNorms, the cell and the MLP ``Linear(h, m h), Linear(m h, h)``, the final RMSNorm."""
    per_layer = 2 * h + k * (h * h + h) + (h * m * h + m * h) + (m * h * h + h)
    return (f * h + h) + layers * per_layer + h


def test_parameter_counts_follow_the_equations():
    f, h = 3, 7
    assert count_parameters(lambda k: MinGRU(f, k, block="bare"), h) == 2 * (f * h + h)
    assert count_parameters(lambda k: MinLSTM(f, k, block="bare"), h) == 3 * (f * h + h)
    bare_two = count_parameters(lambda k: MinGRU(f, k, num_layers=2, block="bare"), h)
    assert bare_two == 2 * (f * h + h) + 2 * (h * h + h)
    assert count_parameters(lambda k: MinGRU(f, k, block="residual"), h) == minimal_block_count(
        f, h, 2
    )
    assert count_parameters(
        lambda k: MinLSTM(f, k, num_layers=3, block="residual"), h
    ) == minimal_block_count(f, h, 3, layers=3)
    expanded = count_parameters(lambda k: MinGRU(f, k, mlp_expansion=2, block="residual"), h)
    assert expanded == minimal_block_count(f, h, 2, m=2)
    n = 5  # LRU: encoder, then ν, θ, γ (N each), B and C (2 N H each), D (H)
    lru = count_parameters(lambda k: LRU(f, k, state_size=n, block="bare"), h)
    assert lru == (f * h + h) + 3 * n + 4 * n * h + h
    # residual: per layer also a LayerNorm (2H) and the GLU's Linear(H, 2H)
    lru_block = count_parameters(
        lambda k: LRU(f, k, state_size=n, num_layers=2, block="residual"), h
    )
    assert lru_block == (f * h + h) + 2 * (2 * h + 3 * n + 4 * n * h + h + 2 * h * h + 2 * h)


@pytest.mark.parametrize("make", [MinGRU, MinLSTM, LRU])
@pytest.mark.parametrize("block", BLOCKS)
def test_every_form_builds_on_the_meta_device_and_grows_with_hidden_size(make, block):
    """What ``model.param_budget``'s search relies on (sizing.count_parameters)."""
    with torch.device("meta"):
        net = make(2, 16, num_layers=2, bidirectional=True, block=block)
    assert all(p.is_meta for p in net.parameters())
    counts = [count_parameters(lambda k: make(2, k, block=block), h) for h in (1, 2, 8, 9)]
    assert counts == sorted(set(counts))


def test_lru_starts_on_its_ring_with_the_normalisation():
    torch.manual_seed(3)
    layer = LRU(1, 8, state_size=4096, r_min=0.5, r_max=0.8, max_phase=1.0, block="residual")
    layer = layer.stacks[0][0].cell
    lam = torch.exp(layer.log_lambda().detach())
    radius, phase = lam.abs(), lam.angle()
    assert radius.min() >= 0.5 - 1e-6 and radius.max() <= 0.8 + 1e-6
    assert phase.min() >= 0 and phase.max() <= 1.0 + 1e-6
    # |λ|² is uniform on [r_min², r_max²]: its mean is the midpoint.
    assert (radius**2).mean().item() == pytest.approx((0.25 + 0.64) / 2, abs=0.01)
    gamma = torch.exp(layer.gamma_log.detach())
    torch.testing.assert_close(gamma, torch.sqrt(1 - radius**2), atol=1e-5, rtol=1e-5)


def test_fit_hidden_size_takes_the_closest_count():
    def build(hidden: int) -> nn.Module:  # 3h² + 10 parameters
        return nn.ModuleDict({"a": nn.Linear(hidden, 3 * hidden, bias=False), "b": nn.Linear(1, 5)})

    for budget in (1, 13, 100, 1000, 12345):
        hidden, n_params = fit_hidden_size(build, budget)
        assert n_params == 3 * hidden**2 + 10
        candidates = [k for k in (hidden - 1, hidden + 1) if k >= 1]
        assert all(abs(3 * k**2 + 10 - budget) >= abs(n_params - budget) for k in candidates)
    with pytest.raises(ValueError, match="does the model use hidden_size"):
        fit_hidden_size(lambda hidden: nn.Linear(2, 2), 1000)


def test_param_budget_sizes_every_model_and_keeps_its_initialisation(make_cfg):
    from rnnlab.run.build import build_model

    for backbone in ("gru", "lru", "mingru"):
        torch.manual_seed(0)
        cfg = make_cfg(f"backbone={backbone}", "model.param_budget=3000")
        model = build_model(cfg)
        hidden = cfg.model.backbone.hidden_size
        assert model.backbone.hidden_size == hidden and model.run_config["model"]
        neighbours = []
        for other in (hidden - 1, hidden + 1):
            other_cfg = make_cfg(f"backbone={backbone}", f"model.backbone.hidden_size={other}")
            neighbours.append(build_model(other_cfg).n_params)
        assert all(abs(n - 3000) >= abs(model.n_params - 3000) for n in neighbours)
        # The search consumed no random numbers: the same weights as asking for that size.
        torch.manual_seed(0)
        direct = build_model(
            make_cfg(f"backbone={backbone}", f"model.backbone.hidden_size={hidden}")
        )
        for p, q in zip(model.parameters(), direct.parameters(), strict=True):
            assert torch.equal(p, q)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.param_budget=0"], "model.param_budget=0 is invalid"),
        (
            ["backbone=lru", "model.backbone.r_min=0.9", "model.backbone.r_max=0.5"],
            "r_min <= r_max",
        ),
        (["backbone=lru", "model.backbone.r_max=1.0"], "model.backbone.r_max=1.0 is invalid"),
        (["backbone=mingru", "model.backbone.mode=fast"], "one of auto, parallel, sequential"),
        (["backbone=minlstm", "model.backbone.scan=tree"], "one of chunked, log"),
        (["backbone=lru", "model.backbone.block=deep"], "one of residual, bare"),
        (["backbone=mingru", "model.backbone.mlp_expansion=0"], "mlp_expansion=0 is invalid"),
    ],
)
def test_bad_cell_settings_are_one_line_errors(make_cfg, overrides, message):
    """Refused by the settings check or while the run is built: before any training."""
    from rnnlab.run.build import build_run
    from rnnlab.run.validation import validate_config

    cfg = make_cfg(*overrides)
    with pytest.raises(ConfigError, match=message) as info:
        validate_config(cfg)
        build_run(cfg)
    assert "\n" not in str(info.value)


def test_hidden_state_pictures_read_the_new_cells():
    from rnnlab.report.hidden import hidden_states

    for make in CELLS.values():
        net = make(input_size=1, hidden_size=3, bidirectional=True)
        states = hidden_states(net, torch.randn(12))
        assert states["h"].shape == (12, 6)


def test_a_run_with_a_budget_records_it(make_cfg):
    from rnnlab.run.train import train

    metrics = train(
        make_cfg("backbone=minlstm", "model.param_budget=500", "callbacks.figures=null")
    )
    assert metrics["param_budget"] == 500

    def count(h: int) -> int:  # the minLSTM in its block (one input feature), the head h + 1,
        return minimal_block_count(1, h, 3) + h + 1 + 21  # the AR highway over 20 steps

    hidden = metrics["hidden_size"]
    assert metrics["n_params"] == count(hidden)
    assert all(abs(count(k) - 500) >= abs(count(hidden) - 500) for k in (hidden - 1, hidden + 1))
    assert math.isfinite(metrics["test_mse"])


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("mode", ["parallel", "sequential"])
def test_padding_changes_no_real_step_in_either_direction(cell, mode):
    torch.manual_seed(4)
    net = CELLS[cell](input_size=2, hidden_size=3, num_layers=2, bidirectional=True, mode=mode)
    net = net.double()
    short = torch.randn(1, 5, 2, dtype=torch.float64)
    padded = torch.cat([short, torch.randn(1, 4, 2, dtype=torch.float64)], dim=1)
    batch = torch.cat([padded, torch.randn(1, 9, 2, dtype=torch.float64)])  # a full-length one
    out = net(batch, lengths=torch.tensor([5, 9]))
    assert max_difference([out[:1, :5]], [net(short)]) <= TOL
    assert max_difference([out[1:]], [net(batch[1:])]) <= TOL


def rms_norm(u: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """RMSNorm over the features of each step, written out (torch's default eps)."""
    eps = torch.finfo(u.dtype).eps
    return u * torch.rsqrt(u.pow(2).mean(-1, keepdim=True) + eps) * weight


def layer_norm(u: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    centred = u - u.mean(-1, keepdim=True)
    scale = torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + norm.eps)
    return centred * scale * norm.weight + norm.bias


def randomise_affine(net: nn.Module) -> None:
    """Normalisation gains and biases away from 1 and 0, so the checks below see them."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.RMSNorm, nn.LayerNorm)):
                module.weight.uniform_(0.5, 1.5)
                if getattr(module, "bias", None) is not None:
                    module.bias.normal_()


@pytest.mark.parametrize("make", [MinGRU, MinLSTM])
def test_a_minimal_block_is_norm_cell_residual_then_norm_mlp_residual(make):
    torch.manual_seed(5)
    net = make(input_size=2, hidden_size=4, num_layers=2, block="residual").double().eval()
    randomise_affine(net)
    x = torch.randn(3, 8, 2, dtype=torch.float64)
    u = x @ net.encoders[0].weight.T + net.encoders[0].bias  # the linear input projection
    for block in net.stacks[0]:
        assert isinstance(block, MinimalBlock)
        cell_out, _ = block.cell(rms_norm(u, block.norm.weight), None, "sequential")
        a = u + cell_out
        first, _, second = block.mlp  # Linear(H, 4H), GELU, Linear(4H, H)
        assert first.out_features == 4 * 4
        hidden = torch.nn.functional.gelu(
            rms_norm(a, block.mlp_norm.weight) @ first.weight.T + first.bias
        )
        u = a + hidden @ second.weight.T + second.bias
    expected = rms_norm(u, net.final_norms[0].weight)
    assert max_difference([net(x)], [expected]) <= TOL
    # The MLP counts: other weights, another output.
    with torch.no_grad():
        net.stacks[0][1].mlp[0].weight.mul_(2.0)
    assert (net(x) - expected).abs().max() > 1e-3


@pytest.mark.parametrize("make", [MinGRU, MinLSTM])
def test_a_minimal_block_without_its_mlp_is_the_bare_cell_plus_the_residual(make):
    torch.manual_seed(6)
    net = make(input_size=2, hidden_size=4, block="residual").double().eval()
    randomise_affine(net)
    block = net.stacks[0][0]
    with torch.no_grad():  # the MLP's output is zero
        block.mlp[-1].weight.zero_()
        block.mlp[-1].bias.zero_()
    bare = make(input_size=4, hidden_size=4, block="bare").double()  # its one cell reads H
    bare.stacks[0][0].load_state_dict(block.cell.state_dict())
    x = torch.randn(2, 6, 2, dtype=torch.float64)
    u = net.encoders[0](x)
    expected = u + bare(rms_norm(u, block.norm.weight))
    assert max_difference([block(u, None, "parallel")[0]], [expected]) <= TOL
    assert max_difference([net(x)], [rms_norm(expected, net.final_norms[0].weight)]) <= TOL


def test_an_lru_block_is_norm_lru_gelu_glu_residual():
    torch.manual_seed(7)
    net = LRU(input_size=2, hidden_size=4, state_size=3, num_layers=2, block="residual")
    net = net.double().eval()
    randomise_affine(net)
    x = torch.randn(3, 8, 2, dtype=torch.float64)
    u = net.encoders[0](x)  # linear: no GELU before the first block
    assert max_difference([u], [x @ net.encoders[0].weight.T + net.encoders[0].bias]) <= TOL
    for block in net.stacks[0]:
        assert isinstance(block, LRUBlock) and isinstance(block.cell, LRULayer)
        y, _ = block.cell(layer_norm(u, block.norm), None, "sequential")
        value, gate = (
            torch.nn.functional.gelu(y) @ block.glu.linear.weight.T + block.glu.linear.bias
        ).chunk(2, -1)
        u = u + value * torch.sigmoid(gate)
    assert max_difference([net(x)], [u]) <= TOL
    with torch.no_grad():  # other GLU weights, another output
        net.stacks[0][0].glu.linear.weight.mul_(2.0)
    assert (net(x) - u).abs().max() > 1e-3
    with torch.no_grad():  # the GLU's output zero: every block passes its input on
        for block in net.stacks[0]:
            block.glu.linear.weight[:4].zero_()
            block.glu.linear.bias[:4].zero_()
    assert max_difference([net(x)], [net.encoders[0](x)]) <= TOL


@pytest.mark.parametrize("make", [MinGRU, MinLSTM, LRU])
def test_dropout_acts_inside_every_block_and_between_bare_layers_only(make):
    torch.manual_seed(8)
    x = torch.randn(4, 10, 2)
    block_net = make(input_size=2, hidden_size=8, dropout=0.5, block="residual")  # one layer
    bare_net = make(input_size=2, hidden_size=8, dropout=0.5, block="bare")
    for net, acts in ((block_net, True), (bare_net, False)):
        train = net.train()(x)
        evaluated = net.eval()(x)
        assert torch.equal(evaluated, net(x))  # no dropout in eval mode
        assert (train - evaluated).abs().max().item() > 0 if acts else torch.equal(train, evaluated)


def test_the_block_setting_offers_exactly_the_blocks():
    from rnnlab.run.validation import SETTINGS

    (row,) = [s for s in SETTINGS if s.path == "model.backbone.block"]
    assert tuple(row.allowed.choices) == BLOCKS
    with pytest.raises(ValueError, match="block='deep' is invalid"):
        MinGRU(1, 4, block="deep")


@pytest.mark.parametrize("flushing", [False, True])
def test_a_scan_backward_leaves_the_subnormal_setting_as_it_found_it(flushing):
    from rnnlab.models.scan import _flushing_subnormals

    torch.set_flush_denormal(flushing)
    try:
        # |a| = 0.5 over 300 steps: a last-step gradient decays through the subnormal range
        a = torch.full((1, 1, 4), 0.5)
        b = torch.randn(2, 300, 4, requires_grad=True)
        for scan in (scan_sequential, scan_chunked):
            scan(a, b)[:, -1].sum().backward()
            assert _flushing_subnormals() == flushing
        assert torch.isfinite(b.grad).all() and b.grad[:, -1].eq(2.0).all()  # two scans
    finally:
        torch.set_flush_denormal(False)
